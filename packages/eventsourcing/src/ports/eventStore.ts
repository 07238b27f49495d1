import type { EventEnvelope, NewEvent } from '@curbmap/contracts';

export type StoredEvent<Type extends string = string, Data = unknown> = EventEnvelope<Type, Data>;

/** An opaque position in the global log; null means "before the first event". */
export type Checkpoint = string | null;

/** `no_stream`: the stream must not exist; `any`: no check; a number: the stream's last version (0-based). */
export type ExpectedVersion = number | 'no_stream' | 'any';

export interface AppendResult {
  /** Version of the last event now in the stream. */
  nextVersion: number;
  /** Global position of the last event appended. */
  position: string;
}

export interface EventFilter {
  categories?: string[];
  types?: string[];
}

export interface ReadAllOptions {
  /** Exclusive: events after this checkpoint. */
  from?: Checkpoint;
  /** Inclusive upper bound. */
  to?: Checkpoint;
  filter?: EventFilter;
  batchSize?: number;
  /**
   * Events without their data (`data` undefined; the schema version the upcast event would have): a reader of envelopes only. An adapter that can
   * leaves the data unread (an import's chunks of a megabyte each then cost a row's header, not a parse).
   */
  envelopeOnly?: boolean;
}

export interface AppendOptions {
  expectedVersion: ExpectedVersion;
  /**
   * Keys this append claims, in the same transaction as its events: a key can be claimed once, ever (dedupe of
   * client ids without loading a stream). If any is claimed already the append fails with ClaimConflictError
   * and writes nothing.
   */
  claims?: string[];
}

export interface EventPage {
  events: StoredEvent[];
  /** The page was cut (batchSize, maxBytes): more events may follow up to the read's end. */
  more: boolean;
}

export interface EventStore {
  /**
   * Appends atomically. Fails with ConcurrencyError when the stream's version differs from expectedVersion.
   * Re-appending events whose ids are already in the stream at the same place is a no-op (idempotent retries).
   * `events` may be produced on demand (a generator): an adapter takes them one by one, in one transaction, so a
   * sequence too large for memory (an import's chunks read back from a staging file) is never held whole.
   */
  append(streamId: string, events: Iterable<NewEvent>, options: AppendOptions): Promise<AppendResult>;
  /** Of these keys, the ones an append has claimed, with the position of that append. */
  claimed(keys: string[]): Promise<Map<string, string>>;
  readStream(streamId: string, options?: { fromVersion?: number }): AsyncIterable<StoredEvent>;
  readAll(options?: ReadAllOptions): AsyncIterable<StoredEvent>;
  /**
   * The same events as readAll, a page at a time: at most batchSize events, closed once it holds maxBytes of data
   * or more (the event that reaches the budget is its last; a page holds one event at least). An adapter that reads pages anyway offers them whole: a subscription catching up on a
   * million events then awaits once per page, not once per event.
   */
  readAllPages?(options?: ReadAllOptions & { maxBytes?: number }): AsyncIterable<EventPage>;
  /** Position of the newest event in the log, null when empty. */
  headPosition(): Promise<Checkpoint>;
  /** Orders two checkpoints: negative, zero or positive. */
  compare(a: Checkpoint, b: Checkpoint): number;
  /**
   * The event at a position an append reported (a claim's, say), or null. It is committed, so it is read at once,
   * even where readAll still holds back what transactions older than it may yet commit (PostgreSQL).
   */
  readAt(position: string): Promise<StoredEvent | null>;
  close(): Promise<void>;
}
