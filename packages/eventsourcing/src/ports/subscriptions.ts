import type { Checkpoint, EventFilter, StoredEvent } from './eventStore.ts';

export type BatchHandler = (batch: StoredEvent[]) => Promise<void>;

export interface SubscribeOptions {
  batchSize?: number;
  /**
   * `after-batch` (default): the subscription stores the checkpoint once the handler resolved (at-least-once).
   * `by-handler`: the handler stores it itself, in the same transaction as its writes (projections).
   */
  checkpointing?: 'after-batch' | 'by-handler';
}

export interface Subscription {
  readonly name: string;
  /** Resolves once the subscription first reached the head of the log. */
  readonly caughtUp: Promise<void>;
  /** Resolves when every event up to and including position has been handled (read-your-writes). */
  waitFor(position: Checkpoint, timeoutMs?: number): Promise<void>;
  position(): Checkpoint;
  stop(): Promise<void>;
}

export interface Subscriptions {
  /** A named, durable, at-least-once subscription: catches up from its checkpoint, then follows live. */
  subscribe(name: string, filter: EventFilter, handle: BatchHandler, options?: SubscribeOptions): Subscription;
  stopAll(): Promise<void>;
}
