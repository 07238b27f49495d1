import type { Checkpoint, EventFilter, EventStore, StoredEvent } from '../../ports/eventStore.ts';
import { parkedDeadLetter, retryDeadLetter } from '../deadLetterRetry.ts';
import { RunningSubscriptions, type SubscriptionsEnvironment } from '../runningSubscriptions.ts';
export type { SubscriptionLogger } from '../runningSubscriptions.ts';
import { DEAD_LETTERS, filterTakes, handlerFor, type BatchHandler, type DeadLetter, type StreamWrite, type SubscribeOptions, type Subscription, type Subscriptions } from '../../ports/subscriptions.ts';

export interface InProcessSubscriptionsOptions extends SubscriptionsEnvironment {
  store: EventStore;
  /**
   * Wakes followers as soon as something is appended in this process, with the position appended and, when the
   * store says, the stream and type of each event: a follower that takes none of them, and had read everything
   * before, moves to that position without reading or waking.
   */
  onAppended?: (listener: (position: string, appended?: readonly { streamId: string; type: string }[]) => void) => () => void;
  /** Catches appends made by other processes sharing the store. */
  pollIntervalMs?: number;
  /**
   * After an append wakes a caught-up subscription, wait this long for more before reading, so a burst of
   * appends is read as one batch instead of one query per append per subscription. Someone waiting on a
   * position (waitFor) cuts it short.
   */
  lingerMs?: number;
  /**
   * Whether a position told by onAppended is readable at once (SQLite: one writer, positions in commit order).
   * PostgreSQL's are not: another append may still commit below them, and readers stop at the oldest running one.
   * Then appends only wake followers, who read and advance up to what the store's head says is readable.
   */
  appendedPositionsReadable?: boolean;
}

/**
 * Subscriptions driven by the store's global log, in this process: each reads from its checkpoint in batches,
 * hands them to its handler, then sleeps until the next append. A failing batch is retried one event at a
 * time with backoff; an event that keeps failing is parked as a dead letter (with its error, in the same
 * transaction as the checkpoint that passes it) and the subscription goes on.
 */
export class InProcessSubscriptions implements Subscriptions {
  private readonly running = new RunningSubscriptions<RunningSubscription>();
  private readonly options: InProcessSubscriptionsOptions;

  constructor(options: InProcessSubscriptionsOptions) {
    this.options = options;
  }

  subscribe(name: string, filter: EventFilter, handle: BatchHandler, options: SubscribeOptions = {}): Subscription {
    return this.running.start(name, (onStop) => new RunningSubscription(name, filter, handle, options, this.options, onStop));
  }

  list(): Subscription[] {
    return this.running.list();
  }

  /** Resolves when every running subscription has handled the log up to position (tests, graceful drains). */
  waitForAll(position: Checkpoint, timeoutMs?: number): Promise<void> {
    return this.running.waitForAll(position, timeoutMs);
  }

  stopAll(): Promise<void> {
    return this.running.stopAll();
  }
}

/**
 * Event data a batch holds at most (at least one event), where the store reads in pages: 500 events of a
 * subscription that wants only their ids would otherwise load 500 curb-import chunks of half a megabyte each.
 * Parsed, such data takes about five times its size; at 8 MB an import of 100,000 zones still peaked at 380 MB.
 */
const MAX_BATCH_BYTES = 2 * 1024 * 1024;

interface RetryRequest {
  deadLetter: DeadLetter;
  resolve: () => void;
  reject: (err: unknown) => void;
}

class RunningSubscription implements Subscription {
  readonly caughtUp: Promise<void>;
  private markCaughtUp!: () => void;
  private reachedHead = false;
  private current: Checkpoint = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  /** Set by an append notification that arrived while no one was sleeping. */
  private pending = false;
  /** Caught up and waiting for appends: everything up to `current` is handled. */
  private sleeping = false;
  private readonly waiters = new Set<{ position: Checkpoint; resolve: () => void }>();
  /** The newest position known: queried from the store, or told by an append in this process. */
  private knownHead: Checkpoint = null;
  private headQueriedAt = 0;
  private readonly retries: RetryRequest[] = [];
  private readonly loop: Promise<void>;
  private readonly unlisten: () => void;

  readonly name: string;
  readonly filter: EventFilter;
  private readonly handle: BatchHandler;
  private readonly options: SubscribeOptions;
  private readonly env: InProcessSubscriptionsOptions;
  private readonly onStop: () => void;

  constructor(name: string, filter: EventFilter, handle: BatchHandler, options: SubscribeOptions, env: InProcessSubscriptionsOptions, onStop: () => void) {
    this.name = name;
    this.filter = filter;
    this.handle = handlerFor(handle, options);
    this.options = options;
    this.env = env;
    this.onStop = onStop;
    this.caughtUp = new Promise((resolve) => (this.markCaughtUp = resolve));
    this.unlisten =
      env.onAppended?.((position, appended) => {
        if (env.appendedPositionsReadable === false) return this.poke();
        const before = this.knownHead;
        if (this.env.store.compare(position, this.knownHead) > 0) this.knownHead = position;
        // Most appends concern a few subscriptions of many: the others, asleep at the head, just move along.
        if (appended && this.sleeping && this.env.store.compare(this.current, before) >= 0 && !appended.some((e) => filterTakes(this.filter, { streamId: e.streamId, version: 0, types: [e.type] }))) {
          this.advance(position);
          return;
        }
        this.poke();
      }) ?? (() => {});
    this.loop = this.run();
  }

  position(): Checkpoint {
    return this.current;
  }

  isCaughtUp(): boolean {
    return this.reachedHead;
  }

  waitFor(position: Checkpoint, timeoutMs = 10_000): Promise<void> {
    if (this.env.store.compare(this.current, position) >= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { position, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`subscription ${this.name} did not reach ${position} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(waiter);
      this.poke();
    });
  }

  /** The log here has one order, so a stream write is reached when its position is. */
  waitForWrite(write: StreamWrite, timeoutMs?: number): Promise<void> {
    if (!filterTakes(this.filter, write) || write.position == null) return Promise.resolve();
    return this.waitFor(write.position, timeoutMs);
  }

  retry(deadLetter: DeadLetter): Promise<void> {
    return new Promise((resolve, reject) => {
      this.retries.push({ deadLetter, resolve, reject });
      this.poke();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.loop;
    this.unlisten();
    for (const r of this.retries.splice(0)) r.reject(new Error(`subscription ${this.name} stopped`));
    this.onStop();
  }

  private async run(): Promise<void> {
    const { store, checkpoints, log } = this.env;
    const batchSize = this.options.batchSize ?? 500;
    const maxAttempts = this.options.retry?.maxAttempts ?? 5;
    const baseDelay = this.options.retry?.baseDelayMs ?? 200;
    this.current = await checkpoints.loadCheckpoint(this.name);
    log?.info({ subscription: this.name, checkpoint: this.current }, 'subscription started');
    // After a failure, events are taken one at a time until the failing one is handled or parked, so the
    // events before it are not held back and the dead letter names the event that failed.
    let failures = 0;
    while (!this.stopped) {
      await this.runRetries();
      const catchUp = this.reachedHead ? null : this.options.catchUp;
      const size = failures > 0 ? 1 : (catchUp?.batchSize ?? batchSize);
      let batch: StoredEvent[] = [];
      let head: Checkpoint = null;
      // Whether events beyond this batch may remain before head (else the subscription is there once it is handled).
      let more = false;
      try {
        head = await this.head();
        const read = { from: this.current, to: head, filter: this.filter, batchSize: size, envelopeOnly: this.options.envelopeOnly ?? false };
        if (store.readAllPages) {
          for await (const page of store.readAllPages({ ...read, maxBytes: catchUp?.maxBytes ?? MAX_BATCH_BYTES })) {
            batch = page.events;
            more = page.more;
            break;
          }
        } else {
          for await (const event of store.readAll(read)) {
            batch.push(event);
            if (batch.length === size) break;
          }
          more = batch.length === size;
        }
        if (batch.length > 0) {
          const last = batch[batch.length - 1]!.globalPosition;
          await this.handle(batch, { checkpoint: last, save: (tx) => tx.saveCheckpoint(this.name, last) });
          if (this.options.checkpointing !== 'by-handler') await checkpoints.transaction((tx) => tx.saveCheckpoint(this.name, last));
          this.advance(more ? last : head);
        } else {
          // Nothing matched up to head: the filter skipped it all, so we are there.
          this.advance(head);
        }
        failures = 0;
      } catch (err) {
        failures += 1;
        const event = batch.length === 1 ? batch[0]! : null;
        if (event && failures >= maxAttempts) {
          await this.park(event, err, failures);
          failures = 0;
          continue;
        }
        const delay = Math.min(30_000, baseDelay * 2 ** (failures - 1));
        log?.warn({ err, subscription: this.name, checkpoint: this.current, eventId: event?.id, attempt: failures, retryInMs: delay }, 'subscription handler failed; retrying');
        await this.backoff(delay);
        continue;
      }
      if (!more) {
        if (!this.reachedHead && this.options.atHead) {
          try {
            await this.options.atHead();
          } catch (err) {
            log?.error({ err, subscription: this.name }, 'subscription could not finish reaching the head; retrying');
            await this.backoff(baseDelay);
            continue;
          }
        }
        this.reachedHead = true;
        this.markCaughtUp();
        // Appends made meanwhile in this process have set `pending`, so this returns at once for them.
        this.sleeping = !this.pending;
        await this.sleep(this.env.pollIntervalMs ?? 1000);
        this.sleeping = false;
      } else {
        await new Promise((r) => setImmediate(r)); // let requests run between batches of a long catch-up
      }
    }
  }

  /**
   * The head of the log. Appends in this process say where it is; the store is asked only once per poll
   * interval (appends by other processes sharing it), not on every wake-up of every subscription.
   */
  private async head(): Promise<Checkpoint> {
    // Only the store knows what is readable: ask it every time.
    if (this.env.appendedPositionsReadable === false) return (this.knownHead = await this.env.store.headPosition());
    const now = Date.now();
    // Someone waits for a position beyond what is known (written by another writer): ask the store now.
    const waitedBeyond = [...this.waiters].some((w) => this.env.store.compare(w.position, this.knownHead) > 0);
    if (this.knownHead !== null && !waitedBeyond && now - this.headQueriedAt < (this.env.pollIntervalMs ?? 1000)) return this.knownHead;
    const head = await this.env.store.headPosition();
    this.headQueriedAt = now;
    if (this.env.store.compare(head, this.knownHead) > 0) this.knownHead = head;
    return this.knownHead;
  }

  /** Records the event as a dead letter and moves the checkpoint past it, in one transaction. */
  private async park(event: StoredEvent, err: unknown, attempts: number): Promise<void> {
    const deadLetter = parkedDeadLetter(
      this.name,
      { eventId: event.id, organizationId: event.organizationId, eventType: event.type, streamId: event.streamId, position: event.globalPosition },
      err instanceof Error ? err.message : String(err),
      attempts,
      this.env.now?.() ?? new Date(),
    );
    await this.env.checkpoints.transaction(async (tx) => {
      await tx.put(DEAD_LETTERS, { ...deadLetter });
      await tx.saveCheckpoint(this.name, event.globalPosition);
    });
    this.env.log?.error({ err, subscription: this.name, eventId: event.id, eventType: event.type, streamId: event.streamId, attempts }, 'event parked as a dead letter after repeated failures');
    this.env.onParked?.(deadLetter);
    this.advance(event.globalPosition);
  }

  /** Dead letters an operator asked to retry: run between batches, so checkpoints never move back. */
  private async runRetries(): Promise<void> {
    for (let request = this.retries.shift(); request; request = this.retries.shift()) {
      await retryDeadLetter(this.env, request.deadLetter, this.handle, this.current).then(request.resolve, request.reject);
    }
  }

  private advance(position: Checkpoint): void {
    if (this.env.store.compare(position, this.current) <= 0) return;
    this.current = position;
    for (const w of this.waiters) {
      if (this.env.store.compare(this.current, w.position) >= 0) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Waits after a failure; new appends do not cut it short (that would retry in a tight loop), a stop does. */
  private backoff(ms: number): Promise<void> {
    return this.pause(ms, () => this.stopped);
  }

  private poke(): void {
    this.pending = true;
    this.wake?.();
  }

  /**
   * Caught up: wait for the next append or the poll interval, then linger briefly so a burst of appends is
   * handled as one batch (one transaction) rather than one event each. Someone waiting for a position, an
   * operator's retry or a stop cuts the linger short.
   */
  private async sleep(ms: number): Promise<void> {
    if (!this.pending) await this.pause(ms, () => true);
    if (!this.pending || this.stopped) return;
    this.pending = false;
    const linger = this.env.lingerMs ?? 0;
    const urgent = () => this.waiters.size > 0 || this.retries.length > 0 || this.stopped;
    if (linger > 0 && !urgent()) await this.pause(linger, urgent);
  }

  /** Waits ms; a wake-up (append, waiter, stop) ends it early when cutShort says so. */
  private pause(ms: number, cutShort: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = () => {
        if (cutShort()) done();
      };
    });
  }
}
