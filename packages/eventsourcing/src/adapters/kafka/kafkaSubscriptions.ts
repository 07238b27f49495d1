import { categoriesOfTypes, topicOf } from '@curbmap/contracts';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { FencedError } from '../../errors.ts';
import type { Checkpoint, EventFilter, EventStore, StoredEvent } from '../../ports/eventStore.ts';
import type { ReadStoreTx } from '../../ports/readStore.ts';
import { DEAD_LETTERS, filterTakes, handlerFor, type BatchHandler, type DeadLetter, type StreamWrite, type SubscribeOptions, type Subscription, type Subscriptions } from '../../ports/subscriptions.ts';
import { parkedDeadLetter, retryDeadLetter } from '../deadLetterRetry.ts';
import { RunningSubscriptions, type SubscriptionsEnvironment } from '../runningSubscriptions.ts';
import { coPartitionedAssigner } from './kafkaAssigner.ts';
import { DEAD_LETTER_TOPIC, DEFAULT_PARTITIONS, KafkaTopics } from './kafkaTopics.ts';

/** How often a consumer busy in a handler tells the group it is alive (kafkajs sends it only if due). */
const HEARTBEAT_WHILE_HANDLING_MS = 1_000;

/** Checkpoints here are offsets per partition (with the log position handled in each), a row per partition. */
export interface KafkaSubscriptionsOptions extends SubscriptionsEnvironment {
  kafka: Kafka;
  /** The log the relay publishes: how far it got is compared with positions (waitFor); parked events are read back from it. */
  store: EventStore;
  /** The relay's checkpoint name (KafkaRelay's `name`). */
  relayCheckpoint?: string;
  /** The topics a filter reads: its categories', or those of the categories that carry its types (contracts' streamCategories). */
  topicsOf?: (filter: EventFilter) => string[];
  /** Consumer group of a subscription: prefix + name. */
  groupPrefix?: string;
  /** Partitions of each topic created (KAFKA_PARTITIONS, default 6): how many processes of a service can share the work. */
  partitions?: number;
  /** How long the group waits for a consumer that stopped heartbeating before giving its partitions to another. */
  sessionTimeoutMs?: number;
  /** How long a rebalance waits for a member still handling a batch before going on without it (kafkajs: 60 s). */
  rebalanceTimeoutMs?: number;
}

/**
 * Subscriptions fed by Kafka: one consumer group per subscription, reading its categories' topics, shared by
 * every process that runs the subscription (partition p of each topic to one member, coPartitionedAssigner). A
 * batch's offsets are committed to Kafka only after its handler's effect; the partition's checkpoint (next offset,
 * last log position) is its own row, `<name>@<topic>:<partition>`, stored with the handler's writes (`by-handler`)
 * or right after (`after-batch`), and messages below it are skipped after a restart, so a crash between the two
 * never applies one twice. A member given a partition takes its row's fence first (and reads the row after it):
 * a member that lost the partition in a rebalance and is still handling a batch of it can then neither store its
 * checkpoint nor its writes (FencedError), and leaves the batch to the new owner. The relay publishes the log in
 * order, so within a partition log positions only grow: a message at or below the last position handled there is
 * the relay's resend after a crash between its send and its checkpoint, and is dropped (that position is part of
 * the checkpoint, so this holds across restarts of the consumer too). A failing batch is retried one message at
 * a time with backoff; a message that keeps failing goes to the dead-letter topic with the reason, is recorded
 * as a dead letter, and the consumer goes on.
 */
export class KafkaSubscriptions implements Subscriptions {
  private readonly running = new RunningSubscriptions<KafkaSubscription>();
  readonly topics: KafkaTopics;
  private producer: Promise<Producer> | null = null;
  readonly options: KafkaSubscriptionsOptions & { relayCheckpoint: string; groupPrefix: string };

  constructor(options: KafkaSubscriptionsOptions) {
    this.options = { relayCheckpoint: 'kafka-relay', groupPrefix: 'curbmap.', ...options };
    this.topics = new KafkaTopics(options.kafka, options.partitions ?? DEFAULT_PARTITIONS);
  }

  subscribe(name: string, filter: EventFilter, handle: BatchHandler, options: SubscribeOptions = {}): Subscription {
    const topics = this.options.topicsOf?.(filter) ?? (filter.categories?.length ? filter.categories : categoriesOfTypes(filter.types ?? [])).map(topicOf);
    if (topics.length === 0) throw new Error(`subscription ${name}: no stream category carries ${filter.types?.join(', ') || 'anything it asks for'}`);
    // A message carries the data whole: an envelope-only handler still gets none (handlerFor).
    return this.running.start(name, (onStop) => new KafkaSubscription(name, filter, topics, handlerFor(handle, options), options, this, onStop));
  }

  list(): Subscription[] {
    return this.running.list();
  }

  /** Resolves when every running subscription has handled the log up to position. */
  waitForAll(position: Checkpoint, timeoutMs?: number): Promise<void> {
    return this.running.waitForAll(position, timeoutMs);
  }

  async stopAll(): Promise<void> {
    await this.running.stopAll();
    const producer = this.producer;
    this.producer = null;
    await (await producer?.catch(() => null))?.disconnect();
    await this.topics.close();
  }

  /** Resolves once the relay has published everything up to position. */
  async relayed(position: Checkpoint, deadline: number, what: () => string): Promise<void> {
    const { store, checkpoints, relayCheckpoint } = this.options;
    while (store.compare(await checkpoints.loadCheckpoint(relayCheckpoint), position) < 0) {
      if (Date.now() > deadline) throw new Error(what());
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  deadLetterProducer(): Promise<Producer> {
    this.producer ??= (async () => {
      await this.topics.ensure([DEAD_LETTER_TOPIC]);
      const producer = this.options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
      return producer;
    })();
    return this.producer;
  }
}

const partitionKey = (topic: string, partition: number) => `${topic}:${partition}`;

/** A partition's checkpoint row: its own, so members of a group never write each other's. */
export const partitionCheckpoint = (subscription: string, key: string) => `${subscription}@${key}`;

function parseMark(text: string): PartitionMark {
  const { next, position } = JSON.parse(text) as { next: string; position: Checkpoint };
  return { next: BigInt(next), position };
}

const formatMark = (mark: PartitionMark) => JSON.stringify({ next: String(mark.next), position: mark.position });

/** Where a partition stands: the next offset to handle, and the log position of the last event handled there. */
interface PartitionMark {
  next: bigint;
  position: Checkpoint;
}

/** Where the subscription stands: a mark per `<topic>:<partition>`, as JSON (before partitions had rows, also what was stored). */
function parseCheckpoint(checkpoint: Checkpoint): Map<string, PartitionMark> {
  if (checkpoint === null) return new Map();
  try {
    const parsed = JSON.parse(checkpoint) as Record<string, { next: string; position: Checkpoint }>;
    if (typeof parsed !== 'object' || parsed === null) return new Map();
    return new Map(Object.entries(parsed).map(([k, v]) => [k, { next: BigInt(v.next), position: v.position }]));
  } catch {
    // Another adapter's checkpoint (a log position): nothing about partitions.
    return new Map();
  }
}

function formatCheckpoint(marks: Map<string, PartitionMark>): string {
  return JSON.stringify(Object.fromEntries([...marks].map(([k, v]) => [k, { next: String(v.next), position: v.position }])));
}

/** Newest stream version handled per stream, for the newest streams (read-your-writes waits). */
class StreamVersions {
  private readonly versions = new Map<string, { version: number; partition: string }>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get(streamId: string): number {
    return this.versions.get(streamId)?.version ?? -1;
  }

  /** The partition the stream's events came in (where its next ones come too). */
  partitionOf(streamId: string): string | null {
    return this.versions.get(streamId)?.partition ?? null;
  }

  see(streamId: string, version: number, partition: string): void {
    if (version <= this.get(streamId)) return;
    this.versions.delete(streamId);
    this.versions.set(streamId, { version, partition });
    if (this.versions.size > this.max) this.versions.delete(this.versions.keys().next().value!);
  }
}

class KafkaSubscription implements Subscription {
  readonly caughtUp: Promise<void>;
  private reachedHead = false;
  private stopped = false;
  /** Per partition: the checkpoint (of partitions held now, or before, here). */
  private readonly handled = new Map<string, PartitionMark>();
  /** The partitions this member holds, with the fence it took on each one's row. */
  private readonly fences = new Map<string, number>();
  /** The group's committed offsets of partitions not held here, as last read (waitFor). */
  private readonly committedElsewhere = new Map<string, bigint>();
  /** Waits that need those offsets, and the one loop reading them while there are any. */
  private pollers = 0;
  private polling: Promise<void> | null = null;
  /** Marks of the single row stored before partitions had rows of their own: where a partition without a row starts. */
  private legacy = new Map<string, PartitionMark>();
  /** Fences being taken for the partitions the group just gave this member; batches wait for it. */
  private claiming: Promise<void> = Promise.resolve();
  /** Counts assignments (and consumer restarts): fences taken for an older one are not kept. */
  private generation = 0;
  /** Commits refused (the broker away, the group rebalancing), tried again until made: partition → next offset, tries. */
  private readonly uncommitted = new Map<string, { next: bigint; tries: number }>();
  private commitRetry: ReturnType<typeof setTimeout> | null = null;
  private readonly versions = new StreamVersions(100_000);
  private readonly listeners = new Set<() => void>();
  /** Batches and operators' retries take turns. */
  private turn: Promise<unknown> = Promise.resolve();
  private consumer: Consumer | null = null;
  private started: Promise<void>;
  private readonly groupId: string;
  readonly name: string;
  readonly filter: EventFilter;
  private readonly topicNames: string[];
  private readonly handle: BatchHandler;
  private readonly options: SubscribeOptions;
  private readonly env: KafkaSubscriptions;
  private readonly onStop: () => void;

  constructor(name: string, filter: EventFilter, topicNames: string[], handle: BatchHandler, options: SubscribeOptions, env: KafkaSubscriptions, onStop: () => void) {
    this.name = name;
    this.filter = filter;
    this.topicNames = topicNames;
    this.handle = handle;
    this.options = options;
    this.env = env;
    this.onStop = onStop;
    this.groupId = `${env.options.groupPrefix}${name}`;
    const head = env.options.store.headPosition();
    this.started = this.start();
    this.started.catch((err) => env.options.log?.error({ err, subscription: name }, 'kafka subscription failed to start'));
    // Caught up: everything the log held when it was subscribed is handled.
    this.caughtUp = this.started.then(async () => {
      await this.waitFor(await head, 24 * 3_600_000);
      await options.atHead?.();
      this.reachedHead = true;
    });
    this.caughtUp.catch(() => undefined);
  }

  /**
   * Started again and again until it works: a topic another process just created may not be served by its
   * leader yet ("does not host this topic-partition"), and a broker may be restarting.
   */
  private async start(): Promise<void> {
    for (let delay = 500; ; delay = Math.min(10_000, delay * 2)) {
      try {
        return await this.startOnce();
      } catch (err) {
        const consumer = this.consumer;
        this.consumer = null;
        await consumer?.disconnect().catch(() => undefined);
        if (this.stopped) throw err;
        this.env.options.log?.warn({ err, subscription: this.name, retryInMs: delay }, 'kafka subscription could not start; trying again');
        for (const until = Date.now() + delay; !this.stopped && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
        if (this.stopped) throw err;
      }
    }
  }

  private async startOnce(): Promise<void> {
    const { kafka, checkpoints, log, sessionTimeoutMs, rebalanceTimeoutMs } = this.env.options;
    const stored = await checkpoints.loadCheckpoint(this.name);
    this.legacy = parseCheckpoint(stored);
    // The subscription's own row says it exists (a projection with none starts from empty collections); the
    // partitions' rows hold where each stands.
    if (stored === null) await checkpoints.transaction((tx) => tx.saveCheckpoint(this.name, '{}'));
    await this.env.topics.ensure(this.topicNames);
    // A fetch with nothing to read waits up to maxWaitTimeInMs on the broker, which answers as soon as a record
    // arrives: a record's delivery waits no longer, and idle consumers (a usage process runs eight) ask a fifth as
    // often as at 100 ms. Heartbeats go between fetches, so a rebalance is noticed, and a clean stop ends, up to
    // about 0.4 s later.
    const consumer = kafka.consumer({ groupId: this.groupId, sessionTimeout: sessionTimeoutMs ?? 10_000, ...(rebalanceTimeoutMs ? { rebalanceTimeout: rebalanceTimeoutMs } : {}), heartbeatInterval: 1_000, maxWaitTimeInMs: 500, allowAutoTopicCreation: false, partitionAssigners: [coPartitionedAssigner] });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const keys = Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => partitionKey(topic, p)));
      // Fences of the last assignment no longer count: each partition given now is taken (again) before its next
      // batch. A claim still running for an older assignment keeps none of what it takes (its generation is gone).
      const generation = this.forget();
      for (const key of this.uncommitted.keys()) if (!keys.includes(key)) this.uncommitted.delete(key);
      this.claiming = this.claiming.then(() => this.claim(keys, generation)).catch((err) => log?.warn({ err, subscription: this.name }, 'taking partitions failed; each is taken before its next batch'));
    });
    // kafkajs restarts a consumer that crashed on a retriable error only: one that gave up for good (no group
    // coordinator after a long broker outage, say) would stay stopped, its partitions never read again.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      // Crashed, it holds nothing until the group gives it partitions again.
      this.forget();
      if (payload.restart || this.stopped || this.consumer !== consumer) return;
      log?.warn({ err: payload.error, subscription: this.name }, 'kafka consumer stopped for good; starting it again');
      this.consumer = null;
      this.started = consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => (this.stopped ? undefined : this.start()));
      this.started.catch((err) => log?.error({ err, subscription: this.name }, 'kafka subscription failed to start again'));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.topicNames, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, eachBatch: (payload) => this.exclusive(() => this.onBatch(payload)) });
    log?.info({ subscription: this.name, topics: this.topicNames, checkpoint: this.position() }, 'kafka subscription started');
  }

  /**
   * Takes the partitions the group gave this member: each row's fence first, then where it stands (the row, read
   * after the fence, so a former owner's last batch is in it or never will be; else the row stored before
   * partitions had rows; and never before what the group committed, or the start of a partition it never read).
   */
  private async claim(keys: string[], generation: number): Promise<void> {
    // Fences first: batches wait for these only, never for the broker's admin answers below.
    for (const key of keys) if ((await this.take(key, generation)) === null) return;
    this.notify();
    void this.raiseToCommitted(keys, generation).catch((err) => this.env.options.log?.warn({ err, subscription: this.name }, 'reading committed offsets failed'));
  }

  /** A partition never read here, or read before its row existed, stands where the group committed (or at its start). */
  private async raiseToCommitted(keys: string[], generation: number): Promise<void> {
    for (const topic of new Set(keys.map((k) => splitKey(k)[0]))) {
      for (const [partition, { committed, low }] of await this.env.topics.committed(this.groupId, topic)) {
        const key = partitionKey(topic, partition);
        if (generation !== this.generation || !keys.includes(key)) continue;
        const at = committed ?? low;
        const mark = this.handled.get(key);
        if (at > (mark?.next ?? 0n)) this.handled.set(key, { next: at, position: mark?.position ?? null });
      }
    }
    this.notify();
  }

  /** The partition's fence, taken for this generation; null when a newer assignment came meanwhile (nothing kept). */
  private async take(key: string, generation: number): Promise<number | null> {
    const { fence, position } = await this.env.options.checkpoints.fenceCheckpoint(partitionCheckpoint(this.name, key));
    if (generation !== this.generation) return null;
    const mark = position !== null ? parseMark(position) : (this.legacy.get(key) ?? null);
    // What is stored is where the partition stands, whatever this process knew of it before (a rebuild starts over).
    if (mark) this.handled.set(key, mark);
    else this.handled.delete(key);
    this.fences.set(key, fence);
    return fence;
  }

  /** Holds no partition any more (a new assignment, or the consumer crashed): a new generation. */
  private forget(): number {
    this.fences.clear();
    return ++this.generation;
  }

  position(): Checkpoint {
    return this.handled.size === 0 ? null : formatCheckpoint(this.handled);
  }

  isCaughtUp(): boolean {
    return this.reachedHead;
  }

  /** The relay published position, and every partition of this subscription's topics is handled to where it ended then. */
  waitFor(position: Checkpoint, timeoutMs = 10_000): Promise<void> {
    return this.reach(position, timeoutMs, () => false);
  }

  /** waitFor, given up quietly once `cancelled` says so (another wait of the same write won). */
  private async reach(position: Checkpoint, timeoutMs: number, cancelled: () => boolean): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const late = () => `subscription ${this.name} did not reach ${position} within ${timeoutMs} ms`;
    await this.env.relayed(position, deadline, late);
    const targets = new Map<string, bigint>();
    for (const topic of this.topicNames) for (const [partition, end] of await this.env.topics.ends(topic)) targets.set(partitionKey(topic, partition), end);
    const reached = (key: string, end: bigint) => (this.handled.get(key)?.next ?? 0n) >= end || (this.committedElsewhere.get(key) ?? 0n) >= end;
    const done = () => [...targets].every(([key, end]) => reached(key, end));
    if (done() || cancelled()) return;
    if (this.stopped) throw new Error(`subscription ${this.name} stopped`);
    // Partitions another process holds: reached when the group's committed offset is (committed after the
    // checkpoint), read by one poller for every wait of this subscription.
    this.pollers += 1;
    this.pollElsewhere();
    try {
      await this.until(done, deadline, late, cancelled);
    } finally {
      this.pollers -= 1;
    }
  }

  /** While anyone waits: the group's committed offsets of partitions not held here, every 100 ms. */
  private pollElsewhere(): void {
    if (this.polling) return;
    this.polling = (async () => {
      while (this.pollers > 0 && !this.stopped) {
        for (const topic of this.topicNames) {
          if (this.stopped) break;
          for (const [partition, { committed }] of await this.env.topics.committed(this.groupId, topic).catch(() => new Map<number, { committed: bigint | null }>())) {
            const key = partitionKey(topic, partition);
            if (!this.fences.has(key) && committed !== null && committed > (this.committedElsewhere.get(key) ?? 0n)) this.committedElsewhere.set(key, committed);
          }
        }
        this.notify();
        await new Promise((r) => setTimeout(r, 100));
      }
      // Cleared here, not in a later callback: a wait that comes now starts a poller of its own.
      this.polling = null;
    })().catch(() => {
      this.polling = null;
    });
  }

  /**
   * Kafka orders a stream's events, not the log: a write is reached when its stream's version is. A stream this
   * process has not seen (handled before it started, or forgotten among many) is reached when the whole
   * subscription has reached the write's log position, whichever comes first (the other wait is then dropped).
   */
  async waitForWrite(write: StreamWrite, timeoutMs = 10_000): Promise<void> {
    if (!filterTakes(this.filter, write)) return;
    const late = () => `subscription ${this.name} did not reach ${write.streamId}@${write.version} within ${timeoutMs} ms`;
    let settled = false;
    const over = () => settled;
    const byStream = this.until(() => this.versions.get(write.streamId) >= write.version, Date.now() + timeoutMs, late, over);
    // A stream seen in a partition this process still holds: its next events come here.
    const partition = this.versions.partitionOf(write.streamId);
    if ((partition !== null && this.fences.has(partition)) || write.position == null) return byStream;
    try {
      await Promise.any([byStream, this.reach(write.position, timeoutMs, over)]);
    } catch {
      throw new Error(late());
    } finally {
      settled = true;
      this.notify();
    }
  }

  retry(deadLetter: DeadLetter): Promise<void> {
    return this.exclusive(() => retryDeadLetter(this.env.options, deadLetter, this.handle, this.position()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.commitRetry) clearTimeout(this.commitRetry);
    this.notify();
    await this.started.catch(() => undefined);
    await this.consumer?.disconnect();
    await this.polling;
    this.onStop();
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const key = partitionKey(payload.batch.topic, payload.batch.partition);
    try {
      await this.claiming;
      const fence = this.fences.get(key) ?? (await this.take(key, this.generation));
      // A newer assignment came while it was taken: the batch is left (kafkajs delivers it to whoever holds it now).
      if (fence === null) return;
      await this.onPartitionBatch(payload, key, fence);
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      // Another process took the partition over (a rebalance this one has not heard of yet): its batch is the new owner's.
      this.fences.delete(key);
      this.env.options.log?.info({ subscription: this.name, partition: key }, 'partition taken over by another process; batch left to it');
    }
  }

  private async onPartitionBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload, key: string, fence: number): Promise<void> {
    const { topic, partition } = batch;
    const batchSize = this.options.batchSize ?? 500;
    const maxAttempts = this.options.retry?.maxAttempts ?? 5;
    const baseDelay = this.options.retry?.baseDelayMs ?? 200;
    // Below the stored checkpoint: handled before a crash that came before the commit to Kafka.
    const entries = batch.messages.filter((m) => BigInt(m.offset) >= (this.handled.get(key)?.next ?? 0n)).map((message) => ({ message, event: readEvent(message) }));
    if (entries.length === 0 && batch.messages.length > 0 && this.handled.has(key)) {
      // All handled before, by the checkpoint, and Kafka still has them: the commit after them was lost (the broker
      // went away between the checkpoint and the commit, or the process died there). Commit it now, or the group
      // stays behind (lag that never clears) until the partition's next message. Never past a message seen here.
      const next = BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n;
      resolveOffset(String(next - 1n));
      await this.commit(topic, partition, next);
      return;
    }
    let failures = 0;
    for (let i = 0; i < entries.length; ) {
      if (this.stopped || !isRunning() || isStale()) return;
      const first = entries[i]!;
      if (typeof first.event === 'string') {
        // Not an event at all: no retry can help.
        await this.park(topic, partition, first.message, null, first.event, 1, fence);
        if (!(await this.passed(key, [first], resolveOffset, batch.lastOffset()))) return;
        i += 1;
        continue;
      }
      let end = Math.min(entries.length, i + (failures > 0 ? 1 : batchSize));
      for (let k = i + 1; k < end; k++) if (typeof entries[k]!.event === 'string') end = k;
      const chunk = entries.slice(i, end) as { message: KafkaMessage; event: StoredEvent }[];
      try {
        // The relay publishes the log in order, so a partition's positions only grow: one at or below the last
        // handled here is the relay's resend after a crash (between its send and its checkpoint).
        const since = this.handled.get(key)?.position ?? null;
        let high = since;
        const events: StoredEvent[] = [];
        for (const { event } of chunk) {
          if (this.env.options.store.compare(event.globalPosition, high) <= 0) continue;
          high = event.globalPosition;
          if (this.takes(event)) events.push(event);
        }
        if (events.length > 0) {
          const checkpoint = formatMark({ next: nextOffset(chunk), position: high });
          const save = (tx: ReadStoreTx) => this.saveMark(tx, key, checkpoint, fence);
          // A handler may wait on read models or the log for longer than the session timeout: the group must not
          // take the partition away (and deliver the chunk again elsewhere) while it works.
          const beating = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_WHILE_HANDLING_MS);
          try {
            await this.handle(events, { checkpoint, save });
          } finally {
            clearInterval(beating);
          }
          if (this.options.checkpointing !== 'by-handler') await this.env.options.checkpoints.transaction(save);
        }
        // A commit refused (the group moved on, the broker away): leave the batch, kafkajs rejoins the group.
        if (!(await this.passed(key, chunk, resolveOffset, batch.lastOffset()))) return;
        failures = 0;
        i = end;
      } catch (err) {
        if (err instanceof FencedError) throw err;
        failures += 1;
        if (chunk.length === 1 && failures >= maxAttempts) {
          await this.park(topic, partition, first.message, first.event, err instanceof Error ? err.message : String(err), failures, fence);
          if (!(await this.passed(key, chunk, resolveOffset, batch.lastOffset()))) return;
          failures = 0;
          i = end;
          continue;
        }
        const delay = Math.min(30_000, baseDelay * 2 ** (failures - 1));
        this.env.options.log?.warn({ err, subscription: this.name, topic, partition, offset: first.message.offset, attempt: failures, retryInMs: delay }, 'subscription handler failed; retrying');
        await this.backoff(delay, heartbeat);
      }
    }
  }

  /**
   * After a chunk's effect: its stream versions seen, the offset resolved and committed, waiters told. False when
   * the commit failed (the checkpoint holds the chunk; the commit is tried again, and made when the partition comes again).
   */
  private async passed(key: string, chunk: { message: KafkaMessage; event: StoredEvent | string }[], resolveOffset: (offset: string) => void, batchLast: string): Promise<boolean> {
    for (const { event } of chunk) if (typeof event !== 'string') this.versions.see(event.streamId, event.streamVersion, key);
    const next = nextOffset(chunk);
    const [topic, partition] = splitKey(key);
    this.handled.set(key, { next, position: this.lastPosition(chunk, this.handled.get(key)?.position ?? null) });
    resolveOffset(String(next - 1n));
    // Committed to Kafka once per fetched batch, at its end (a round trip per chunk cost a third of the throughput):
    // the checkpoint already holds every chunk, and a batch left before its end is committed when its messages come
    // again (onBatch, "all handled before"), as is a commit lost with the broker. Failing here instead would retry,
    // even park, a chunk whose effect is done.
    const committed = chunk[chunk.length - 1]!.message.offset === batchLast ? await this.commit(topic, partition, next) : true;
    this.notify();
    return committed;
  }

  private async commit(topic: string, partition: number, next: bigint): Promise<boolean> {
    const key = partitionKey(topic, partition);
    try {
      await this.consumer!.commitOffsets([{ topic, partition, offset: String(next) }]);
      if ((this.uncommitted.get(key)?.next ?? -1n) <= next) this.uncommitted.delete(key);
      return true;
    } catch (err) {
      this.env.options.log?.warn({ err, subscription: this.name, topic, partition }, 'commit to Kafka failed; the checkpoint holds what was handled, the commit is tried again');
      const pending = this.uncommitted.get(key);
      // A partition whose messages do not come again (the consumer kept its place) would stay a commit behind:
      // the commit is tried again every second, in turn with the batches (never an older offset after a newer one).
      this.uncommitted.set(key, { next: pending && pending.next > next ? pending.next : next, tries: (pending?.tries ?? 0) + 1 });
      this.retryCommits();
      return false;
    }
  }

  private retryCommits(): void {
    if (this.commitRetry || this.stopped) return;
    this.commitRetry = setTimeout(() => {
      this.commitRetry = null;
      void this.exclusive(async () => {
        for (const [key, { next, tries }] of [...this.uncommitted]) {
          // Given up after a minute, or at once for a partition held here no more: the partition went to another
          // consumer, which commits from its own place (this commit could move its offset back).
          if (this.stopped || tries > 60 || !this.fences.has(key)) {
            this.uncommitted.delete(key);
            continue;
          }
          const [topic, partition] = splitKey(key);
          await this.commit(topic, partition, next);
        }
      });
    }, 1_000);
  }

  /** To the dead-letter topic (the message as it came, the reason in headers), then a dead letter and the checkpoint past it. */
  private async park(topic: string, partition: number, message: KafkaMessage, event: StoredEvent | null, error: string, attempts: number, fence: number): Promise<void> {
    const { checkpoints, log, onParked, now } = this.env.options;
    const producer = await this.env.deadLetterProducer();
    await producer.send({
      topic: DEAD_LETTER_TOPIC,
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers: { ...message.headers, 'dead-letter-subscription': this.name, 'dead-letter-reason': error, 'dead-letter-attempts': String(attempts), 'dead-letter-source': `${topic}:${partition}:${message.offset}` } }],
    });
    // An unreadable message is named by its place.
    const eventId = event?.id ?? headerOf(message, 'event-id') ?? `${topic}:${partition}:${message.offset}`;
    const deadLetter = parkedDeadLetter(
      this.name,
      { eventId, organizationId: event?.organizationId ?? 'unknown', eventType: event?.type ?? headerOf(message, 'event-type') ?? 'unknown', streamId: event?.streamId ?? message.key?.toString() ?? 'unknown', position: event?.globalPosition ?? null },
      error,
      attempts,
      now?.() ?? new Date(),
    );
    const key = partitionKey(topic, partition);
    const mark = { next: BigInt(message.offset) + 1n, position: this.lastPosition([{ event: event ?? 'unreadable' }], this.handled.get(key)?.position ?? null) };
    await checkpoints.transaction(async (tx) => {
      await tx.put(DEAD_LETTERS, { ...deadLetter });
      await this.saveMark(tx, key, formatMark(mark), fence);
    });
    log?.error({ error, subscription: this.name, eventId, topic, partition, offset: message.offset, attempts }, 'message dead-lettered after repeated failures');
    onParked?.(deadLetter);
  }

  /** A partition's checkpoint in its own row, under the fence this member took on it. */
  private saveMark(tx: ReadStoreTx, key: string, checkpoint: string, fence: number): Promise<void> {
    return tx.saveCheckpoint(partitionCheckpoint(this.name, key), checkpoint, fence);
  }

  private takes(event: StoredEvent): boolean {
    return filterTakes(this.filter, { streamId: event.streamId, version: event.streamVersion, types: [event.type] });
  }

  /** The newest log position among a chunk's events (a resend's are older), or the one before. */
  private lastPosition(chunk: { event: StoredEvent | string }[], before: Checkpoint): Checkpoint {
    let position = before;
    for (const { event } of chunk) if (typeof event !== 'string' && this.env.options.store.compare(event.globalPosition, position) > 0) position = event.globalPosition;
    return position;
  }

  private exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Waits after a failure, heartbeating so the group keeps the partition; a stop ends it. */
  private async backoff(ms: number, heartbeat: () => Promise<void>): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopped && Date.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
      await heartbeat().catch(() => undefined);
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Resolves once done() holds, or quietly once cancelled() does; rejects at the deadline or a stop. */
  private until(done: () => boolean, deadline: number, what: () => string, cancelled: () => boolean = () => false): Promise<void> {
    if (done() || cancelled()) return Promise.resolve();
    // Stopped already: nothing would ever wake this wait.
    if (this.stopped) return Promise.reject(new Error(`subscription ${this.name} stopped`));
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done() || cancelled()) finish(resolve);
        else if (this.stopped) finish(() => reject(new Error(`subscription ${this.name} stopped`)));
      };
      const finish = (then: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        then();
      };
      const timer = setTimeout(() => finish(() => reject(new Error(what()))), Math.max(0, deadline - Date.now()));
      this.listeners.add(check);
    });
  }
}

const nextOffset = (chunk: { message: KafkaMessage }[]) => BigInt(chunk[chunk.length - 1]!.message.offset) + 1n;

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf(':');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}

/** The event a message carries, or why it carries none. */
function readEvent(message: KafkaMessage): StoredEvent | string {
  try {
    const event = JSON.parse(message.value?.toString() ?? '') as StoredEvent;
    if (typeof event?.id === 'string' && typeof event.type === 'string' && typeof event.streamId === 'string' && typeof event.streamVersion === 'number') return event;
    return 'unreadable message: not an event envelope';
  } catch (err) {
    return `unreadable message: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function headerOf(message: KafkaMessage, name: string): string | null {
  const value = message.headers?.[name];
  return value === undefined ? null : String(Array.isArray(value) ? value[0] : value);
}
