import { categoryOf, topicOf } from '@curbmap/contracts';
import type { Admin, Kafka } from 'kafkajs';
import type { StoredEvent } from '../../ports/eventStore.ts';

/**
 * One topic per stream category (`curbmap.<category>`), keyed by organization: a stream's events stay in order (a
 * stream belongs to one organization), and an organization's events of every topic are in partitions of one number.
 */
export const topicOfEvent = (event: Pick<StoredEvent, 'streamId'>) => topicOf(categoryOf(event.streamId));

/** Enough to spread a service over 1, 2, 3 or 6 processes; every topic has the same number (kafkaAssigner.ts). */
export const DEFAULT_PARTITIONS = 6;

/** Where consumers put a message they gave up on (with the reason in its headers), then go on. */
export const DEAD_LETTER_TOPIC = 'curbmap.dead-letters';

/** Retries of a retriable offsets request (100 ms doubling: about 3 s in all). */
const RETRIES = 5;

/**
 * Creates topics before anyone produces to or subscribes to them (brokers here do not create topics on demand:
 * a typo would otherwise become a topic). Remembers what exists, so the admin client is used once per topic.
 */
export class KafkaTopics {
  private readonly known = new Set<string>();
  private admin: Admin | null = null;
  private readonly kafka: Kafka;
  private readonly partitions: number;

  constructor(kafka: Kafka, partitions = DEFAULT_PARTITIONS) {
    this.kafka = kafka;
    this.partitions = partitions;
  }

  async ensure(topics: Iterable<string>): Promise<void> {
    const missing = [...new Set(topics)].filter((t) => !this.known.has(t));
    if (missing.length === 0) return;
    const admin = await this.connected();
    const existing = new Set(await admin.listTopics());
    const create = missing.filter((t) => !existing.has(t));
    if (create.length) {
      const numPartitions = await this.partitionsInUse(admin, existing);
      try {
        await admin.createTopics({ topics: create.map((topic) => ({ topic, numPartitions })), waitForLeaders: true });
      } catch (err) {
        // Another process created one meanwhile: fine, as long as they all exist now.
        const now = new Set(await admin.listTopics());
        if (create.some((t) => !now.has(t))) throw err;
      }
    }
    for (const t of missing) this.known.add(t);
  }

  /**
   * Partitions of a new topic: as many as the installation's topics already have (the assignor matches partition
   * numbers across topics, so they must agree), or the configured number in a new installation. Changing the
   * number of an installation is a procedure of its own (deployment.md).
   */
  private async partitionsInUse(admin: Admin, existing: Set<string>): Promise<number> {
    const ours = [...existing].find((t) => t.startsWith('curbmap.') && t !== DEAD_LETTER_TOPIC);
    if (!ours) return this.partitions;
    const { topics } = await admin.fetchTopicMetadata({ topics: [ours] });
    return topics[0]?.partitions.length || this.partitions;
  }

  /** The next offset of each partition of a topic (its high watermark). */
  async ends(topic: string): Promise<Map<number, bigint>> {
    return new Map((await this.topicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  }

  /** A consumer group's committed offsets (null where it has none) and each partition's first offset. */
  async committed(groupId: string, topic: string): Promise<Map<number, { committed: bigint | null; low: bigint }>> {
    const admin = await this.connected();
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const lows = new Map((await this.topicOffsets(topic)).map((p) => [p.partition, BigInt(p.low)]));
    return new Map((offsets?.partitions ?? []).map((p) => [p.partition, { committed: BigInt(p.offset) >= 0n ? BigInt(p.offset) : null, low: lows.get(p.partition) ?? 0n }]));
  }

  /**
   * A topic's partition offsets. kafkajs' admin gives up at once on a retriable answer such as
   * NOT_LEADER_FOR_PARTITION (a partition whose leader was just elected, or moved) and keeps the metadata that
   * sent it there: ask again after a pause, each time with a client of its own that reads metadata afresh.
   */
  private async topicOffsets(topic: string): Promise<{ partition: number; high: string; low: string }[]> {
    let error: unknown;
    try {
      return await (await this.connected()).fetchTopicOffsets(topic);
    } catch (err) {
      error = err;
    }
    for (let attempt = 1; (error as { retriable?: boolean }).retriable === true && attempt <= RETRIES; attempt++) {
      await new Promise((r) => setTimeout(r, 100 * 2 ** (attempt - 1)));
      const fresh = this.kafka.admin();
      try {
        await fresh.connect();
        return await fresh.fetchTopicOffsets(topic);
      } catch (err) {
        error = err;
      } finally {
        await fresh.disconnect();
      }
    }
    throw error;
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = null;
    await admin?.disconnect();
  }

  private async connected(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }
}
