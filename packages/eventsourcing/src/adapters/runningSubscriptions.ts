import type { Checkpoint } from '../ports/eventStore.ts';
import type { ReadStore } from '../ports/readStore.ts';
import type { DeadLetter, Subscription } from '../ports/subscriptions.ts';

export interface SubscriptionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What every Subscriptions adapter is given besides its feed. */
export interface SubscriptionsEnvironment {
  /** Checkpoints and dead letters; projections write their checkpoint in the same transaction as their documents. */
  checkpoints: ReadStore;
  log?: SubscriptionLogger;
  /** Called when an event is parked (metrics). */
  onParked?: (deadLetter: DeadLetter) => void;
  now?: () => Date;
}

/** The subscriptions an adapter runs, by name (one of each at a time), whatever feeds them. */
export class RunningSubscriptions<S extends Subscription & { stop(): Promise<void> }> {
  private readonly running = new Set<S>();

  /** Starts one (`create` gets what to call once it has stopped); a name already running is refused. */
  start(name: string, create: (onStop: () => void) => S): S {
    for (const s of this.running) if (s.name === name) throw new Error(`subscription ${name} is already running`);
    const sub = create(() => this.running.delete(sub));
    this.running.add(sub);
    return sub;
  }

  list(): S[] {
    return [...this.running];
  }

  /** Resolves when every running subscription has handled the log up to position (tests, graceful drains). */
  async waitForAll(position: Checkpoint, timeoutMs?: number): Promise<void> {
    await Promise.all([...this.running].map((s) => s.waitFor(position, timeoutMs)));
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((s) => s.stop()));
  }
}
