import { categoryOf } from '@curbmap/contracts';
import type { Checkpoint, EventFilter, StoredEvent } from './eventStore.ts';
import type { ReadStoreTx } from './readStore.ts';

export interface BatchContext {
  /**
   * Opaque: where the subscription stands once this batch is handled (a log position here, a partition's offset
   * and position on Kafka); never older than the one stored before.
   */
  checkpoint: Checkpoint;
  /**
   * Stores the checkpoint in tx, with the handler's writes (a `by-handler` subscription calls it): under the
   * subscription's name, or on Kafka in the partition's own row, fenced, so a process that lost the partition to
   * another writes nothing (the transaction fails with FencedError).
   */
  save(tx: ReadStoreTx): Promise<void>;
}

export type BatchHandler = (batch: StoredEvent[], context: BatchContext) => Promise<void>;

export interface RetryPolicy {
  /** Attempts at one event before it is parked as a dead letter (default 5). */
  maxAttempts?: number;
  /** First backoff; it doubles with each failure (default 200 ms: five attempts within about 6 s). */
  baseDelayMs?: number;
}

export interface SubscribeOptions {
  batchSize?: number;
  /**
   * `after-batch` (default): the subscription stores the checkpoint once the handler resolved (at-least-once).
   * `by-handler`: the handler stores the context's checkpoint itself, in the same transaction as its writes.
   */
  checkpointing?: 'after-batch' | 'by-handler';
  retry?: RetryPolicy;
  /**
   * Batches until the subscription first reaches the head, where the adapter reads a log itself (in-process):
   * a catch-up commits far fewer, larger transactions. Live batches keep batchSize and the adapter's byte bound.
   */
  catchUp?: { batchSize: number; maxBytes: number };
  /**
   * Awaited the first time the subscription reaches the head, before it says it is caught up (`caughtUp`,
   * `isCaughtUp`, so readiness): a bulk load builds its indexes here. Should it fail, it is tried again.
   */
  atHead?: () => Promise<void>;
  /**
   * The handler reads envelopes only (ids, stream, positions, organization): every adapter delivers its events
   * with `data` undefined, and one that reads a log itself leaves the data unread.
   */
  envelopeOnly?: boolean;
}

/** What a command wrote: read-your-writes waits per stream (Kafka has no total order), never on a global position. */
export interface StreamWrite {
  streamId: string;
  /** Version of the last event written. */
  version: number;
  /** Types of the events written: a read model that takes none of them is not waited for. */
  types: string[];
  /** The adapter's own position of the write, when it has one (SQLite's row number). */
  position?: Checkpoint;
}

/** The ReadStore collection of dead letters (id: `<subscription>:<event id>`). */
export const DEAD_LETTERS = 'dead_letters';

/** An event a subscription gave up on after its retries; kept with the error, the subscription went on. */
export interface DeadLetter {
  id: string;
  organizationId: string;
  subscription: string;
  eventId: string;
  eventType: string;
  streamId: string;
  position: Checkpoint;
  error: string;
  attempts: number;
  status: 'parked' | 'resolved';
  parkedAt: string;
  resolvedAt: string | null;
}

export interface Subscription {
  readonly name: string;
  readonly filter: EventFilter;
  /** Resolves once the subscription first reached the head of the log. */
  readonly caughtUp: Promise<void>;
  isCaughtUp(): boolean;
  /** Resolves when every event up to and including position has been handled. */
  waitFor(position: Checkpoint, timeoutMs?: number): Promise<void>;
  /** Resolves when the write is handled (or is of no interest to this subscription). */
  waitForWrite(write: StreamWrite, timeoutMs?: number): Promise<void>;
  position(): Checkpoint;
  /** Runs a parked event through the handler again, between batches; rejects with the handler's error. */
  retry(deadLetter: DeadLetter): Promise<void>;
  stop(): Promise<void>;
}

export interface Subscriptions {
  /** A named, durable, at-least-once subscription: catches up from its checkpoint, then follows live. */
  subscribe(name: string, filter: EventFilter, handle: BatchHandler, options?: SubscribeOptions): Subscription;
  /** Every running subscription: projections and process managers (lag, readiness, dead-letter retries). */
  list(): Subscription[];
  stopAll(): Promise<void>;
}

/** The event without its data, as an `envelopeOnly` subscription gets it. */
export function envelopeOf(event: StoredEvent): StoredEvent {
  return event.data === undefined ? event : { ...event, data: undefined };
}

/** The handler a subscription runs: for an `envelopeOnly` one, every batch (a dead letter's retry too) without data. */
export function handlerFor(handle: BatchHandler, options: SubscribeOptions): BatchHandler {
  return options.envelopeOnly ? (batch, context) => handle(batch.map(envelopeOf), context) : handle;
}

/** Does a subscription with this filter take any of the events of this write? */
export function filterTakes(filter: EventFilter, write: StreamWrite): boolean {
  if (filter.categories?.length && !filter.categories.includes(categoryOf(write.streamId))) return false;
  if (filter.types?.length && !write.types.some((t) => filter.types!.includes(t))) return false;
  return true;
}
