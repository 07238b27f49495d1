import type { Checkpoint, EventFilter, EventStore, StoredEvent } from '../../ports/eventStore.ts';
import type { ReadStore } from '../../ports/readStore.ts';
import type { BatchHandler, SubscribeOptions, Subscription, Subscriptions } from '../../ports/subscriptions.ts';

export interface SubscriptionLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface InProcessSubscriptionsOptions {
  store: EventStore;
  /** Where checkpoints live; projections write theirs in the same transaction as their documents. */
  checkpoints: ReadStore;
  /** Wakes followers as soon as something is appended in this process. */
  onAppended?: (listener: () => void) => () => void;
  /** Catches appends made by other processes sharing the store. */
  pollIntervalMs?: number;
  /**
   * After an append wakes a caught-up subscription, wait this long for more before reading, so a burst of
   * appends is read as one batch instead of one query per append per subscription. Someone waiting on a
   * position (waitFor) cuts it short.
   */
  lingerMs?: number;
  log?: SubscriptionLogger;
}

/**
 * Subscriptions driven by the store's global log, in this process: each reads from its checkpoint in batches,
 * hands them to its handler, then sleeps until the next append. A failing handler is retried with backoff;
 * the checkpoint never moves past an event that was not handled.
 */
export class InProcessSubscriptions implements Subscriptions {
  private readonly running = new Set<RunningSubscription>();
  private readonly options: InProcessSubscriptionsOptions;

  constructor(options: InProcessSubscriptionsOptions) {
    this.options = options;
  }

  subscribe(name: string, filter: EventFilter, handle: BatchHandler, options: SubscribeOptions = {}): Subscription {
    for (const s of this.running) if (s.name === name) throw new Error(`subscription ${name} is already running`);
    const sub = new RunningSubscription(name, filter, handle, options, this.options, () => this.running.delete(sub));
    this.running.add(sub);
    return sub;
  }

  /** Resolves when every running subscription has handled the log up to position (tests, graceful drains). */
  async waitForAll(position: Checkpoint, timeoutMs?: number): Promise<void> {
    await Promise.all([...this.running].map((s) => s.waitFor(position, timeoutMs)));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((s) => s.stop()));
  }
}

class RunningSubscription implements Subscription {
  readonly caughtUp: Promise<void>;
  private markCaughtUp!: () => void;
  private current: Checkpoint = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  /** Set by an append notification that arrived while no one was sleeping. */
  private pending = false;
  private readonly waiters = new Set<{ position: Checkpoint; resolve: () => void }>();
  private readonly loop: Promise<void>;
  private readonly unlisten: () => void;

  readonly name: string;
  private readonly filter: EventFilter;
  private readonly handle: BatchHandler;
  private readonly options: SubscribeOptions;
  private readonly env: InProcessSubscriptionsOptions;
  private readonly onStop: () => void;

  constructor(name: string, filter: EventFilter, handle: BatchHandler, options: SubscribeOptions, env: InProcessSubscriptionsOptions, onStop: () => void) {
    this.name = name;
    this.filter = filter;
    this.handle = handle;
    this.options = options;
    this.env = env;
    this.onStop = onStop;
    this.caughtUp = new Promise((resolve) => (this.markCaughtUp = resolve));
    this.unlisten = env.onAppended?.(() => this.poke()) ?? (() => {});
    this.loop = this.run();
  }

  position(): Checkpoint {
    return this.current;
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

  async stop(): Promise<void> {
    this.stopped = true;
    this.poke();
    await this.loop;
    this.unlisten();
    this.onStop();
  }

  private async run(): Promise<void> {
    const { store, checkpoints, log } = this.env;
    const batchSize = this.options.batchSize ?? 500;
    this.current = await checkpoints.loadCheckpoint(this.name);
    log?.info({ subscription: this.name, checkpoint: this.current }, 'subscription started');
    let failures = 0;
    while (!this.stopped) {
      try {
        const head = await store.headPosition();
        const batch: StoredEvent[] = [];
        for await (const event of store.readAll({ from: this.current, to: head, filter: this.filter, batchSize })) {
          batch.push(event);
          if (batch.length === batchSize) break;
        }
        if (batch.length > 0) {
          await this.handle(batch);
          const last = batch[batch.length - 1]!.globalPosition;
          if (this.options.checkpointing !== 'by-handler') await checkpoints.transaction((tx) => tx.saveCheckpoint(this.name, last));
          this.advance(batch.length < batchSize ? head : last);
        } else {
          // Nothing matched up to head: the filter skipped it all, so we are there.
          this.advance(head);
        }
        failures = 0;
        if (batch.length < batchSize) {
          this.markCaughtUp();
          // Appends made meanwhile in this process have set `pending`, so this returns at once for them.
          await this.sleep(this.env.pollIntervalMs ?? 1000);
        } else {
          await new Promise((r) => setImmediate(r)); // let requests run between batches of a long catch-up
        }
      } catch (err) {
        failures += 1;
        const delay = Math.min(30_000, 100 * 2 ** failures);
        log?.error({ err, subscription: this.name, checkpoint: this.current, retryInMs: delay }, 'subscription handler failed; retrying');
        await this.backoff(delay);
      }
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

  /** Caught up: wait for the next append (lingering briefly to batch a burst) or the poll interval. */
  private sleep(ms: number): Promise<void> {
    if (this.pending && !this.stopped) {
      this.pending = false;
      const linger = this.env.lingerMs ?? 0;
      if (linger <= 0 || this.waiters.size > 0) return Promise.resolve();
      return this.pause(linger, () => this.waiters.size > 0 || this.stopped);
    }
    return this.pause(ms, () => {
      this.pending = false; // this wake-up is the append being consumed
      return true;
    });
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
