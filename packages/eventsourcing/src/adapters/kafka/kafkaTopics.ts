import { categoryOf, topicOf } from '@curbmap/contracts';
import type { Admin, Kafka } from 'kafkajs';
import type { StoredEvent } from '../../ports/eventStore.ts';

/** One topic per stream category (`curbmap.<category>`), keyed by stream id: a stream's events stay in order. */
export const topicOfEvent = (event: Pick<StoredEvent, 'streamId'>) => topicOf(categoryOf(event.streamId));

/** Where consumers put a message they gave up on (with the reason in its headers), then go on. */
export const DEAD_LETTER_TOPIC = 'curbmap.dead-letters';

/**
 * Creates topics before anyone produces to or subscribes to them (brokers here do not create topics on demand:
 * a typo would otherwise become a topic). Remembers what exists, so the admin client is used once per topic.
 */
export class KafkaTopics {
  private readonly known = new Set<string>();
  private admin: Admin | null = null;
  private readonly kafka: Kafka;
  private readonly partitions: number;

  constructor(kafka: Kafka, partitions = 3) {
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
      try {
        await admin.createTopics({ topics: create.map((topic) => ({ topic, numPartitions: this.partitions })), waitForLeaders: true });
      } catch (err) {
        // Another process created one meanwhile: fine, as long as they all exist now.
        const now = new Set(await admin.listTopics());
        if (create.some((t) => !now.has(t))) throw err;
      }
    }
    for (const t of missing) this.known.add(t);
  }

  /** The next offset of each partition of a topic (its high watermark). */
  async ends(topic: string): Promise<Map<number, bigint>> {
    const admin = await this.connected();
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  }

  /** A consumer group's committed offsets (null where it has none) and each partition's first offset. */
  async committed(groupId: string, topic: string): Promise<Map<number, { committed: bigint | null; low: bigint }>> {
    const admin = await this.connected();
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const lows = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.low)]));
    return new Map((offsets?.partitions ?? []).map((p) => [p.partition, { committed: BigInt(p.offset) >= 0n ? BigInt(p.offset) : null, low: lows.get(p.partition) ?? 0n }]));
  }

  async close(): Promise<void> {
    await this.admin?.disconnect();
    this.admin = null;
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
