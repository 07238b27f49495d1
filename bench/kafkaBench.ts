import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaRelay, KafkaSubscriptions, KafkaTopics, SqliteDatabase, SqliteEventStore, SqliteReadStore, startProjection, type Projection } from '@curbmap/eventsourcing';
import { counted, testRegistry } from '@curbmap/testing';
import { kafkaUnavailable, startPrivateBroker } from '@curbmap/infra';
import type { Figure } from './report.ts';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** The ceiling: kafkajs alone, a producer sending batches of 500 messages of an event's size and a consumer group reading them. */
async function kafkajsCeiling(kafka: Kafka, messages: number, value: string): Promise<number> {
  const topic = `bench.ceiling.${randomUUID()}`;
  const topics = new KafkaTopics(kafka);
  await topics.ensure([topic]);
  await topics.close();
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let received = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        received += batch.messages.length;
        if (received >= messages) resolve();
      },
    });
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const started = performance.now();
  for (let i = 0; i < messages; i += 500) {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: Math.min(500, messages - i) }, (_, k) => ({ key: `stream-${(i + k) % 50}`, value })) });
  }
  await done;
  const rate = messages / ((performance.now() - started) / 1000);
  await producer.disconnect();
  await consumer.disconnect();
  return rate;
}

/** Events through the relay and a consumer group: appended to the log (SQLite), published, applied to a read model. */
export async function kafkaBench(scale: number): Promise<Figure[]> {
  const unavailable = kafkaUnavailable();
  if (unavailable) {
    process.stderr.write(`bench: kafka skipped: ${unavailable}\n`);
    return [];
  }
  const broker = await startPrivateBroker();
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-bench-kafka-'));
  const database = new SqliteDatabase(join(dir, 'curbmap.db'));
  // As the platform's embedded storage runs it (storage.ts): WAL pages copied back off the main thread.
  database.startBackgroundCheckpoints();
  const store = new SqliteEventStore(database, testRegistry());
  const readStore = new SqliteReadStore(database);
  const kafka = new Kafka({ clientId: 'bench', brokers: broker.brokers, logLevel: logLevel.NOTHING });
  const relay = new KafkaRelay({ store, checkpoints: readStore, kafka, idleMs: 5 });
  const subscriptions = new KafkaSubscriptions({ kafka, store, checkpoints: readStore });
  try {
    const events = Math.max(10_000, Math.round(100_000 * scale));
    const sample = JSON.stringify({ ...counted(1), streamId: 'bench-0', streamVersion: 1, globalPosition: '1', schemaVersion: 2, correlationId: randomUUID(), causationId: randomUUID() });
    const ceiling = await kafkajsCeiling(kafka, events, sample);

    // A read model of one document per stream; each event's latency from its append (occurredAt) to its apply.
    const latencies: number[] = [];
    let applied = 0;
    let measuring = false;
    const projection: Projection = {
      name: 'bench.kafka.v1',
      filter: { categories: ['bench'] },
      collections: ['bench_streams'],
      async apply(event, tx) {
        const doc = (await tx.get<{ id: string; organizationId: string; n: number }>('bench_streams', event.streamId)) ?? { id: event.streamId, organizationId: event.organizationId, n: 0 };
        await tx.put('bench_streams', { ...doc, n: doc.n + 1 });
        applied += 1;
        if (measuring) latencies.push(Date.now() - Date.parse(event.occurredAt));
      },
    };
    // 1. The relay and the consumer group alone, as the baseline is kafkajs alone: the log already holds the events
    // (appending is the event store's figure), timed from the relay's start to the last event applied.
    const append = async (from: number) => {
      for (let i = from; i < from + events; i += 100) {
        await store.append(`bench-${(i / 100) % 50}`, Array.from({ length: 100 }, (_, k) => counted(i + k)), { expectedVersion: 'any' });
      }
    };
    await append(0);
    // The consumer group first, as the baseline's consumer runs before its producer sends.
    await startProjection(subscriptions, readStore, projection);
    const started = performance.now();
    await relay.start();
    while (applied < events) await new Promise((r) => setTimeout(r, 5));
    const rate = events / ((performance.now() - started) / 1000);

    // 2. The same with the appends running meanwhile on the same thread (the writer, the relay and the consumer share it).
    const concurrentStart = performance.now();
    await append(events);
    while (applied < 2 * events) await new Promise((r) => setTimeout(r, 5));
    const concurrent = events / ((performance.now() - concurrentStart) / 1000);

    // 3. Latency at a steady 1,000 events/s (one event per append), from append to the read model's commit.
    measuring = true;
    const paced = 5_000;
    const t0 = performance.now();
    for (let i = 0; i < paced; i++) {
      const wait = t0 + i - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      await store.append(`bench-${i % 50}`, [counted(i, { occurredAt: new Date().toISOString() })], { expectedVersion: 'any' });
    }
    while (applied < 2 * events + paced) await new Promise((r) => setTimeout(r, 5));
    latencies.sort((a, b) => a - b);
    return [
      { name: 'Kafka: events through the relay and a consumer group', value: rate, unit: 'events/s', baseline: ceiling, target: { ratio: 0.5 }, detail: `${events} events in the log (SQLite) read and published by the relay, applied by a projection (one consumer group, checkpoint with its writes), from the relay's start to the last applied; baseline: kafkajs alone, producer → consumer group, same message size, same run` },
      { name: 'Kafka: the same while the events are appended', value: concurrent, unit: 'events/s', baseline: ceiling, detail: `${events} more events appended to the log in batches of 100 meanwhile, on the same thread as the relay and the consumer, timed from the first append to the last applied` },
      { name: 'Kafka: append to read model p99 at 1,000 events/s', value: percentile(latencies, 99), unit: 'ms', detail: `${latencies.length} single-event appends; p50 ${percentile(latencies, 50)} ms; single-node broker on this machine` },
    ];
  } finally {
    await subscriptions.stopAll();
    await relay.stop();
    await database.stopBackgroundCheckpoints();
    database.close();
    rmSync(dir, { recursive: true, force: true });
    await broker.stop();
  }
}
