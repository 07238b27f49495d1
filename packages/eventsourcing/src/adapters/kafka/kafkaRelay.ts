import type { Kafka, Message, Producer } from 'kafkajs';
import { closeInOrder } from '../../closing.ts';
import type { EventStore, StoredEvent } from '../../ports/eventStore.ts';
import type { ReadStore } from '../../ports/readStore.ts';
import type { Leadership } from '../postgres/postgresLeadership.ts';
import { rememberingPartitioner } from './kafkaPartitioner.ts';
import { DEFAULT_PARTITIONS, KafkaTopics, topicOfEvent } from './kafkaTopics.ts';

export interface KafkaRelayOptions {
  store: EventStore;
  /** Where the relay keeps how far it has published (a checkpoint like a projection's). */
  checkpoints: ReadStore;
  kafka: Kafka;
  /** Also its checkpoint's name. */
  name?: string;
  batchSize?: number;
  /** How long to wait when the log has nothing new. */
  idleMs?: number;
  /** The topic of an event: one per category by default (`curbmap.<category>`). */
  topicOf?: (event: StoredEvent) => string;
  partitions?: number;
  /**
   * Only one relay may publish (two would interleave the log in a partition, and consumers drop what looks
   * older than what they handled): with several processes able to run it, the one holding this publishes.
   */
  leadership?: Leadership;
  log?: { info(o: object, m: string): void; error(o: object, m: string): void };
}

/** How often a relay that does not lead tries for the lock. */
const STANDBY_MS = 1000;
/** Bytes of event values per produce request: well under a broker's default message.max.bytes (1 MB) per record batch. */
const SEND_BYTES = 512 * 1024;

/**
 * Publishes every stored event to Kafka, in log order, keyed by its organization (a stream's events land in one
 * partition, in order, and so do an organization's events of each topic), then records how far it got. At least once: a crash between a send and its checkpoint
 * sends those events again on restart — consumers drop them by log position (kafkaSubscriptions.ts) — and never
 * skips one, because the checkpoint only moves after Kafka acknowledged the batch (acks from all in-sync replicas,
 * idempotent producer, one request in flight: no reordering on retry).
 */
export class KafkaRelay {
  private readonly options: Required<Omit<KafkaRelayOptions, 'log' | 'leadership'>> & Pick<KafkaRelayOptions, 'log' | 'leadership'>;
  private producer: Producer | null = null;
  private readonly topics: KafkaTopics;
  private running: Promise<void> | null = null;
  private stopped = false;
  private published = 0;
  private leader = true;

  constructor(options: KafkaRelayOptions) {
    this.options = { name: 'kafka-relay', batchSize: 500, idleMs: 50, topicOf: topicOfEvent, partitions: DEFAULT_PARTITIONS, ...options };
    this.topics = new KafkaTopics(this.options.kafka, this.options.partitions);
  }

  /** Events published so far by this instance. */
  get count(): number {
    return this.published;
  }

  /** Publishes continuously until stop(). */
  async start(): Promise<void> {
    await this.connect();
    this.running = this.loop();
  }

  private async connect(): Promise<Producer> {
    if (!this.producer) {
      this.producer = this.options.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: rememberingPartitioner });
      await this.producer.connect();
    }
    return this.producer;
  }

  /** One pass: publishes what the log holds past the checkpoint, in batches; resolves with how many. */
  async relayOnce(): Promise<number> {
    const { checkpoints, name, topicOf } = this.options;
    const producer = await this.connect();
    let total = 0;
    // Checked before every batch (the first one before the checkpoint is read): a relay that lost the lock (its
    // connection died) stops before sending more.
    if (!(await this.leading())) return total;
    const from = await checkpoints.loadCheckpoint(name);
    // The next batch is read while this one is sent: under load a pass is then the longer of the two, not their
    // sum, and an event waits that much less for Kafka. A read never moves the checkpoint, so one left unused
    // (a failed send, the lock lost) costs nothing.
    let reading = this.read(from);
    for (;;) {
      const batch = await reading;
      if (batch.length === 0) return total;
      reading = this.read(batch[batch.length - 1]!.globalPosition);
      reading.catch(() => undefined);
      // Sent in requests of at most SEND_BYTES (a broker refuses a record batch over its message.max.bytes, 1 MB by
      // default), one after another, so a partition's order holds; the checkpoint follows the last acknowledgement.
      let size = 0;
      let messages = new Map<string, Message[]>();
      const send = async () => {
        if (messages.size === 0) return;
        await this.topics.ensure(messages.keys());
        await producer.sendBatch({ acks: -1, topicMessages: [...messages].map(([topic, list]) => ({ topic, messages: list })) });
        messages = new Map();
        size = 0;
      };
      for (const e of batch) {
        const value = JSON.stringify(e);
        // Bytes, not characters (text outside ASCII takes up to 3 in UTF-8), with the key and headers.
        const bytes = Buffer.byteLength(value) + 256;
        if (size > 0 && size + bytes > SEND_BYTES) await send();
        const topic = topicOf(e);
        const message: Message = { key: e.organizationId || e.streamId, value, headers: { 'event-id': e.id, 'event-type': e.type, 'schema-version': String(e.schemaVersion) } };
        const list = messages.get(topic);
        if (list) list.push(message);
        else messages.set(topic, [message]);
        size += bytes;
      }
      await send();
      const last = batch[batch.length - 1]!.globalPosition;
      await checkpoints.transaction((tx) => tx.saveCheckpoint(name, last));
      total += batch.length;
      this.published += batch.length;
      // A stop ends the pass here, not when the log runs dry (with appends coming, it may not).
      if (this.stopped || !(await this.leading())) return total;
    }
  }

  /** Up to a batch of the log past `from`. */
  private async read(from: string | null): Promise<StoredEvent[]> {
    const { store, batchSize } = this.options;
    const batch: StoredEvent[] = [];
    for await (const event of store.readAll({ from, batchSize })) {
      batch.push(event);
      if (batch.length === batchSize) break;
    }
    return batch;
  }

  /** Does this relay hold the lock now (always, without one)? Remembered for the pause between passes. */
  private async leading(): Promise<boolean> {
    this.leader = !this.options.leadership || (await this.options.leadership.held());
    return this.leader;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
    // Kafka unreachable at the stop still closes the admin client and lets another gateway's relay take over.
    await closeInOrder([() => this.producer?.disconnect(), () => this.topics.close(), () => this.options.leadership?.release()]);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const n = await this.relayOnce();
        // Another process's relay leads: try for the lock now and then, not at every idle tick (a connection each).
        if (n === 0) await new Promise((r) => setTimeout(r, this.leader ? this.options.idleMs : STANDBY_MS));
      } catch (err) {
        // Kafka away (a broker restart): nothing was checkpointed past what it acknowledged; try again.
        this.options.log?.error({ err }, 'kafka relay pass failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
}
