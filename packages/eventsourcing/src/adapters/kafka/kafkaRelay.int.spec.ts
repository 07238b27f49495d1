import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counted, noted, testRegistry } from '@curbmap/testing';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from '@curbmap/infra';
import type { ReadStore } from '../../ports/readStore.ts';
import { SqliteDatabase } from '../sqlite/sqliteDatabase.ts';
import { SqliteEventStore } from '../sqlite/sqliteEventStore.ts';
import { SqliteReadStore } from '../sqlite/sqliteReadStore.ts';
import { KafkaRelay } from './kafkaRelay.ts';

// On the real broker (Maven Central's, on the local Java), never a mock.
const unavailable = kafkaUnavailable();

interface Received {
  topic: string;
  key: string;
  streamId: string;
  organizationId: string;
  eventId: string;
  version: number;
}

/** Reads every message of the topics from the beginning until `count` arrived. */
async function consumeAll(kafka: Kafka, topics: string[], count: number): Promise<Received[]> {
  const consumer: Consumer = kafka.consumer({ groupId: `check-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  const received: Received[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${received.length} of ${count}`)), 20_000);
    consumer
      .run({
        eachMessage: async ({ topic, message }) => {
          const event = JSON.parse(message.value!.toString()) as { id: string; streamId: string; organizationId: string; streamVersion: number };
          expect(message.headers!['event-id']!.toString()).toBe(event.id);
          received.push({ topic, key: message.key!.toString(), streamId: event.streamId, organizationId: event.organizationId, eventId: event.id, version: event.streamVersion });
          if (received.length >= count) {
            clearTimeout(timer);
            setImmediate(resolve);
          }
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return received;
}

/** A log in SQLite of its own and a client of the broker, for a relay to publish. */
function relayLog(brokers: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-relay-'));
  const database = new SqliteDatabase(join(dir, 'curbmap.db'));
  const store = new SqliteEventStore(database, testRegistry());
  return {
    store,
    readStore: new SqliteReadStore(database),
    kafka: new Kafka({ clientId: 'relay-test', brokers, logLevel: logLevel.NOTHING }),
    async close() {
      await store.close();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (unavailable) {
  describe('Kafka relay', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('the Kafka relay', () => {
    let broker: PrivateBroker;
    beforeAll(async () => {
      broker = await startPrivateBroker();
    }, 90_000);
    afterAll(() => broker?.stop(), 30_000);

    it('publishes every stored event once to its category\'s topic, keyed by organization (so a stream stays in one partition), in order; resumes from its checkpoint; after a crash between send and checkpoint it sends again, never skips', async () => {
      const { store, readStore, kafka, close } = relayLog(broker.brokers);
      try {
        for (let i = 0; i < 10; i++) await store.append('thing-a', [counted(i)], { expectedVersion: i === 0 ? 'no_stream' : i - 1 });
        await store.append('thing-b', Array.from({ length: 10 }, (_, i) => counted(i)), { expectedVersion: 'no_stream' });
        await store.append('other-c', Array.from({ length: 5 }, (_, i) => noted(`n${i}`)), { expectedVersion: 'no_stream' });

        const relay = new KafkaRelay({ store, checkpoints: readStore, kafka, batchSize: 7 });
        await relay.start();
        await expect.poll(() => relay.count, { timeout: 20_000 }).toBe(25);
        await relay.stop();
        const first = await consumeAll(kafka, ['curbmap.thing', 'curbmap.other'], 25);
        expect(new Set(first.map((r) => r.eventId)).size).toBe(25);
        for (const stream of ['thing-a', 'thing-b', 'other-c']) {
          const versions = first.filter((r) => r.streamId === stream).map((r) => r.version);
          expect(versions, stream).toEqual(Array.from({ length: versions.length }, (_, i) => i));
        }
        expect(first.filter((r) => r.topic === 'curbmap.other').map((r) => r.streamId)).toEqual(Array(5).fill('other-c'));
        // Keyed by organization: one organization's events of every topic land in partitions of one number.
        expect(first.every((r) => r.key === (r.organizationId || r.streamId))).toBe(true);

        // Restarted, it goes on from its checkpoint: only the new events.
        await store.append('thing-a', [counted(10), counted(11)], { expectedVersion: 9 });
        const again = new KafkaRelay({ store, checkpoints: readStore, kafka });
        await again.start();
        await expect.poll(() => again.count, { timeout: 20_000 }).toBe(2);
        await again.stop();

        // A crash after Kafka took a batch but before its checkpoint: the next relay sends that batch again.
        await store.append('thing-a', [counted(12), counted(13), counted(14)], { expectedVersion: 11 });
        const crashing: ReadStore = Object.assign(Object.create(readStore) as ReadStore, { transaction: async () => Promise.reject(new Error('killed before the checkpoint')) });
        const dying = new KafkaRelay({ store, checkpoints: crashing, kafka });
        await expect(dying.relayOnce()).rejects.toThrow('killed before the checkpoint');
        await dying.stop();
        const after = new KafkaRelay({ store, checkpoints: readStore, kafka });
        await after.start();
        await expect.poll(() => after.count, { timeout: 20_000 }).toBe(3);
        await after.stop();

        const all = await consumeAll(kafka, ['curbmap.thing', 'curbmap.other'], 33);
        const ids = all.map((r) => r.eventId);
        // Every event arrived; the only repeats are the batch sent before the crash (consumers drop them by event id).
        expect(new Set(ids).size).toBe(30);
        const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
        expect(repeated).toHaveLength(3);
        const a = all.filter((r) => r.streamId === 'thing-a').map((r) => r.version);
        expect([...new Set(a)]).toEqual(Array.from({ length: 15 }, (_, i) => i));
      } finally {
        await close();
      }
    }, 90_000);

    it('stops while events keep coming: a pass ends at a stop, not when the log runs dry', async () => {
      const { store, readStore, kafka, close } = relayLog(broker.brokers);
      let appending = true;
      try {
        const relay = new KafkaRelay({ store, checkpoints: readStore, kafka, batchSize: 5 });
        const writer = (async () => {
          // Faster than the relay sends them: every read finds more.
          for (let i = 0; appending; i++) {
            await store.append(`steady-${i}`, Array.from({ length: 50 }, (_, k) => counted(k)), { expectedVersion: 'no_stream' });
            await new Promise((r) => setImmediate(r));
          }
        })();
        await relay.start();
        await expect.poll(() => relay.count, { timeout: 20_000 }).toBeGreaterThan(20);
        const stopped = await Promise.race([relay.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
        expect(stopped).toBe('stopped');
        appending = false;
        await writer;
      } finally {
        appending = false;
        await close();
      }
    }, 90_000);

    it('sends a batch larger than a broker takes in one record batch (1 MB) in several requests, in order', async () => {
      const { store, readStore, kafka, close } = relayLog(broker.brokers);
      try {
        // One organization's events go to one partition: 24 events of 100 KB are 2.4 MB for that partition's batch.
        await store.append('bulky-a', Array.from({ length: 24 }, (_, i) => noted(`${i}:${'x'.repeat(100_000)}`)), { expectedVersion: 'no_stream' });
        const relay = new KafkaRelay({ store, checkpoints: readStore, kafka });
        await relay.start();
        await expect.poll(() => relay.count, { timeout: 30_000 }).toBe(24);
        await relay.stop();
        const received = await consumeAll(kafka, ['curbmap.bulky'], 24);
        expect(received.map((r) => r.version)).toEqual(Array.from({ length: 24 }, (_, i) => i));
      } finally {
        await close();
      }
    }, 90_000);
  });
}
