import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counted, subscriptionsContract, testRegistry } from '@curbmap/testing';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from '@curbmap/infra';
import type { Checkpoint, StoredEvent } from '../../ports/eventStore.ts';
import { DEAD_LETTERS, type DeadLetter } from '../../ports/subscriptions.ts';
import type { Document } from '../../ports/readStore.ts';
import type { BatchContext } from '../../ports/subscriptions.ts';
import { SqliteDatabase } from '../sqlite/sqliteDatabase.ts';
import { SqliteEventStore } from '../sqlite/sqliteEventStore.ts';
import { SqliteReadStore } from '../sqlite/sqliteReadStore.ts';
import { KafkaRelay } from './kafkaRelay.ts';
import { KafkaSubscriptions } from './kafkaSubscriptions.ts';
import { DEAD_LETTER_TOPIC, KafkaTopics, topicOfEvent } from './kafkaTopics.ts';

// On the real broker (Maven Central's, on the local Java), never a mock.
const unavailable = kafkaUnavailable();

/** The log in SQLite, published by the relay, consumed through Kafka consumer groups. */
async function kafkaFixture(brokers: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-kafka-subs-'));
  const database = new SqliteDatabase(join(dir, 'curbmap.db'));
  const store = new SqliteEventStore(database, testRegistry());
  const readStore = new SqliteReadStore(database);
  const kafka = new Kafka({ clientId: 'subscriptions-test', brokers, logLevel: logLevel.NOTHING });
  const relay = new KafkaRelay({ store, checkpoints: readStore, kafka, idleMs: 10 });
  await relay.start();
  const subscriptions = new KafkaSubscriptions({ kafka, store, checkpoints: readStore, sessionTimeoutMs: 6_000 });
  const topics = new KafkaTopics(kafka);
  return {
    store,
    readStore,
    subscriptions,
    relay,
    kafka,
    /** Each partition's own row at its topic's end, once the relay has published the position. */
    async checkpointAt(name: string, position: Checkpoint) {
      await subscriptions.relayed(position, Date.now() + 10_000, () => `relay did not reach ${position}`);
      const rows = await readStore.loadCheckpoints(`${name}@`);
      if (rows.size === 0) return false;
      // A row taken (fenced) whose partition had nothing for the subscription yet has no position.
      const offsets = Object.fromEntries([...rows].map(([row, mark]) => [row.slice(name.length + 1), mark === null ? '0' : (JSON.parse(mark) as { next: string }).next]));
      for (const topic of new Set(Object.keys(offsets).map((k) => k.slice(0, k.lastIndexOf(':'))))) {
        for (const [partition, end] of await topics.ends(topic)) if (end > 0n && offsets[`${topic}:${partition}`] !== String(end)) return false;
      }
      return true;
    },
    async close() {
      await subscriptions.stopAll();
      await relay.stop();
      await topics.close();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (unavailable) {
  describe('Kafka subscriptions', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  let broker: PrivateBroker;
  beforeAll(async () => {
    broker = await startPrivateBroker();
  }, 90_000);
  afterAll(() => broker?.stop(), 30_000);

  subscriptionsContract('Kafka consumer groups fed by the relay', () => kafkaFixture(broker.brokers));

  describe('Kafka subscriptions on the real broker', () => {
    it('commits to Kafka what its checkpoint says it handled (a commit lost with the broker): the group does not stay a message behind', async () => {
      const f = await kafkaFixture(broker.brokers);
      try {
        const category = `lag${randomBytes(4).toString('hex')}`;
        const { position } = await f.store.append(`${category}-1`, [counted(1)], { expectedVersion: 'any' });
        const topic = topicOfEvent({ streamId: `${category}-1` });
        await f.subscriptions.relayed(position, Date.now() + 10_000, () => 'relay did not publish');
        const [partition, end] = [...(await f.subscriptions.topics.ends(topic))].find(([, e]) => e > 0n)!;
        // Handled and checkpointed (in the one row stored before partitions had rows of their own), but the commit
        // to Kafka never made it (the broker went away in between).
        const name = `lag-${category}`;
        await f.readStore.transaction((tx) => tx.saveCheckpoint(name, JSON.stringify({ [`${topic}:${partition}`]: { next: String(end), position } })));
        const seen: string[] = [];
        const sub = f.subscriptions.subscribe(name, { categories: [category] }, async (batch) => void seen.push(...batch.map((e) => e.id)));
        await sub.caughtUp;
        let committed: bigint | null = null;
        for (const until = Date.now() + 20_000; Date.now() < until && committed !== end; await new Promise((r) => setTimeout(r, 100))) committed = (await f.subscriptions.topics.committed(`curbmap.${name}`, topic)).get(partition)?.committed ?? null;
        expect(committed).toBe(end);
        expect(seen).toEqual([]);
      } finally {
        await f.close();
      }
    }, 60_000);

    it('drops what the relay sends twice (a crash between its send and its checkpoint): every event is handled once', async () => {
      const f = await kafkaFixture(broker.brokers);
      try {
        const category = `dup${randomBytes(4).toString('hex')}`;
        for (let i = 0; i < 20; i++) await f.store.append(`${category}-${i % 3}`, [counted(i)], { expectedVersion: 'any' });
        const seen: string[] = [];
        const sub = f.subscriptions.subscribe(`dup-${category}`, { categories: [category] }, async (batch) => void seen.push(...batch.map((e) => e.id)));
        await sub.caughtUp;
        expect(seen).toHaveLength(20);
        // The relay forgets its last checkpoint, as after a crash, and sends everything again.
        await f.relay.stop();
        await f.readStore.transaction((tx) => tx.saveCheckpoint('kafka-relay', null));
        const again = new KafkaRelay({ store: f.store, checkpoints: f.readStore, kafka: f.kafka });
        expect(await again.relayOnce()).toBeGreaterThanOrEqual(20);
        await again.stop();
        const { position } = await f.store.append(`${category}-0`, [counted(20)], { expectedVersion: 'any' });
        const last = new KafkaRelay({ store: f.store, checkpoints: f.readStore, kafka: f.kafka });
        await last.relayOnce();
        await last.stop();
        await sub.waitFor(position);
        expect(seen).toHaveLength(21);
        expect(new Set(seen).size).toBe(21);
      } finally {
        await f.close();
      }
    }, 60_000);

    it('keeps its partitions while a handler works longer than the session timeout: each event is handled once', async () => {
      const f = await kafkaFixture(broker.brokers);
      try {
        const category = `slow${randomBytes(4).toString('hex')}`;
        for (let i = 0; i < 5; i++) await f.store.append(`${category}-0`, [counted(i)], { expectedVersion: 'any' });
        const seen: string[] = [];
        let first = true;
        const sub = f.subscriptions.subscribe(`slow-${category}`, { categories: [category] }, async (batch) => {
          // Longer than the group's session timeout (6 s here), as a process waiting on a lagging read model.
          if (first) await new Promise((resolve) => setTimeout(resolve, 9_000));
          first = false;
          seen.push(...batch.map((e) => e.id));
        });
        await sub.caughtUp;
        const { position } = await f.store.append(`${category}-0`, [counted(5)], { expectedVersion: 'any' });
        await sub.waitFor(position, 30_000);
        expect(seen).toHaveLength(6);
        expect(new Set(seen).size).toBe(6);
      } finally {
        await f.close();
      }
    }, 90_000);

    it('knows a write its read model handled before this process started (no stream version seen here yet)', async () => {
      const f = await kafkaFixture(broker.brokers);
      try {
        const category = `seen${randomBytes(4).toString('hex')}`;
        const { position, nextVersion } = await f.store.append(`${category}-0`, [counted(0)], { expectedVersion: 'any' });
        const write = { streamId: `${category}-0`, version: nextVersion, types: ['test.counted'], position };
        const first = f.subscriptions.subscribe(`seen-${category}`, { categories: [category] }, async () => undefined);
        await first.waitForWrite(write, 20_000);
        await first.stop();
        // The same subscription, started again (a restarted process): its offsets are past the write.
        const again = f.subscriptions.subscribe(`seen-${category}`, { categories: [category] }, async () => undefined);
        await again.waitForWrite(write, 20_000);
        // A write it has not handled yet is still waited for.
        const later = await f.store.append(`${category}-1`, [counted(1)], { expectedVersion: 'any' });
        await again.waitForWrite({ streamId: `${category}-1`, version: later.nextVersion, types: ['test.counted'], position: later.position }, 20_000);
      } finally {
        await f.close();
      }
    }, 90_000);

    it('sends a message that keeps failing, and one that is not an event at all, to the dead-letter topic with the reason, and goes on', async () => {
      const f = await kafkaFixture(broker.brokers);
      try {
        const category = `poison${randomBytes(4).toString('hex')}`;
        const topic = `curbmap.${category}`;
        const applied: number[] = [];
        const name = `poison-${category}`;
        const sub = f.subscriptions.subscribe(name, { categories: [category] }, async (batch) => {
          for (const e of batch) if ((e.data as { count: number }).count === 2) throw new Error('count 2 cannot be applied');
          applied.push(...batch.map((e) => (e.data as { count: number }).count));
        }, { retry: { maxAttempts: 3, baseDelayMs: 10 } });
        await sub.caughtUp;
        // Something that is not an event, written to the topic by someone else, ahead of the events (keyed by their
        // organization, as the relay keys them: same partition).
        const producer = f.kafka.producer();
        await producer.connect();
        await producer.send({ topic, messages: [{ key: counted(0).organizationId, value: '{not json' }] });
        await producer.disconnect();
        const { position } = await f.store.append(`${category}-a`, [counted(1), counted(2), counted(3)], { expectedVersion: 'any' });
        await sub.waitFor(position);
        expect(applied).toEqual([1, 3]);

        const parked = await f.readStore.find<DeadLetter & Document>(DEAD_LETTERS, { subscription: name });
        expect(parked.map((d) => [d.eventType, d.attempts, d.error]).sort()).toEqual([
          ['test.counted', 3, 'count 2 cannot be applied'],
          ['unknown', 1, expect.stringContaining('unreadable message')],
        ]);
        // The dead-letter topic has both messages as they came, with the reason and where they came from.
        const consumer = f.kafka.consumer({ groupId: `dlq-reader-${category}` });
        await consumer.connect();
        await consumer.subscribe({ topics: [DEAD_LETTER_TOPIC], fromBeginning: true });
        const letters: { value: string; reason: string; subscription: string; source: string }[] = [];
        await consumer.run({
          eachMessage: async ({ message }) => {
            const header = (n: string) => message.headers![n]!.toString();
            if (header('dead-letter-subscription') === name) letters.push({ value: message.value!.toString(), reason: header('dead-letter-reason'), subscription: header('dead-letter-subscription'), source: header('dead-letter-source') });
          },
        });
        await expect.poll(() => letters.length, { timeout: 15_000 }).toBe(2);
        await consumer.disconnect();
        expect(letters[0]).toMatchObject({ value: '{not json', reason: expect.stringContaining('unreadable message'), source: expect.stringContaining(`${topic}:`) });
        expect(JSON.parse(letters[1]!.value)).toMatchObject({ type: 'test.counted', data: { count: 2 } });
        expect(letters[1]!.reason).toBe('count 2 cannot be applied');
        // The checkpoint is past both: a restart applies nothing again.
        await sub.stop();
        const again: number[] = [];
        const restarted = f.subscriptions.subscribe(name, { categories: [category] }, async (batch) => void again.push(...batch.map((e) => (e.data as { count: number }).count)));
        await restarted.caughtUp;
        expect(again).toEqual([]);
      } finally {
        await f.close();
      }
    }, 60_000);

    it('refuses at once a wait that comes after its subscription stopped (nothing would wake it before its deadline)', async () => {
      const f = await kafkaFixture(broker.brokers);
      try {
        const category = `stopped${randomBytes(4).toString('hex')}`;
        const sub = f.subscriptions.subscribe(`stopped-${category}`, { categories: [category] }, async () => undefined);
        await sub.caughtUp;
        await sub.stop();
        const { position } = await f.store.append(`${category}-1`, [counted(1)], { expectedVersion: 'any' });
        const started = Date.now();
        await expect(sub.waitFor(position, 20_000)).rejects.toThrow(/stopped/);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await f.close();
      }
    }, 60_000);

    it('creates a new topic with as many partitions as the installation\'s topics have, whatever this process is configured with', async () => {
      const kafka = new Kafka({ clientId: 'topics-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
      const first = new KafkaTopics(kafka, 4);
      const later = new KafkaTopics(kafka, 9);
      try {
        const [a, b] = [`curbmap.count${randomBytes(4).toString('hex')}`, `curbmap.count${randomBytes(4).toString('hex')}`];
        await first.ensure([a]);
        // Another process, configured otherwise (KAFKA_PARTITIONS), makes the next topic: partition numbers must
        // agree across topics (the assignor gives partition p of each to one member).
        await later.ensure([b]);
        const made = (await first.ends(a)).size;
        expect((await later.ends(b)).size).toBe(made);
        expect(made).not.toBe(9);
      } finally {
        await first.close();
        await later.close();
      }
    });

    it('two members of one group: one that lost its partition in a rebalance while handling a batch writes nothing after the new owner took it (fenced)', async () => {
      const f = await kafkaFixture(broker.brokers);
      const other = new KafkaSubscriptions({ kafka: new Kafka({ clientId: 'second-member', brokers: broker.brokers, logLevel: logLevel.NOTHING }), store: f.store, checkpoints: f.readStore, sessionTimeoutMs: 6_000, rebalanceTimeoutMs: 3_000 });
      const first = new KafkaSubscriptions({ kafka: f.kafka, store: f.store, checkpoints: f.readStore, sessionTimeoutMs: 6_000, rebalanceTimeoutMs: 3_000 });
      let release = () => {};
      try {
        const category = `fence${randomBytes(4).toString('hex')}`;
        const name = `count-${category}`;
        // Deliberately not idempotent (no applied versions): an event applied twice, or a stale write, shows in the count.
        const gate = new Promise<void>((r) => (release = r));
        const held: string[] = [];
        const handler = (member: string) => async (batch: StoredEvent[], context: BatchContext) =>
          f.readStore.transaction(async (tx) => {
            const doc = await tx.get<Document & { count: number }>('fence_counts', category);
            // The first member's first batch stalls after its read, until the other has taken the partition over.
            if (member === 'first' && held.length === 0) {
              held.push(...batch.map((e) => e.id));
              await gate;
            }
            await tx.put('fence_counts', { id: category, organizationId: batch[0]!.organizationId, count: (doc?.count ?? 0) + batch.length });
            await context.save(tx);
          });
        const a = first.subscribe(name, { categories: [category] }, handler('first'), { checkpointing: 'by-handler' });
        await a.caughtUp;
        await f.store.append(`${category}-1`, Array.from({ length: 5 }, (_, i) => counted(i)), { expectedVersion: 'any' });
        await expect.poll(() => held.length, { timeout: 20_000 }).toBe(5);
        // The second member joins: the stalled one misses the rebalance and is left out; the other takes every partition.
        const b = other.subscribe(name, { categories: [category] }, handler('second'), { checkpointing: 'by-handler' });
        const count = async () => (await f.readStore.get<Document & { count: number }>('fence_counts', category))?.count ?? 0;
        await expect.poll(count, { timeout: 30_000, interval: 100 }).toBe(5);
        const { position } = await f.store.append(`${category}-1`, Array.from({ length: 3 }, (_, i) => counted(5 + i)), { expectedVersion: 'any' });
        await b.waitFor(position, 20_000);
        expect(await count()).toBe(8);
        // The first member's batch goes on now, from what it read before: fenced, it writes nothing (it would write 5).
        release();
        await new Promise((r) => setTimeout(r, 1_000));
        expect(await count()).toBe(8);
        // Both go on sharing the group; every later event is applied once.
        const last = await f.store.append(`${category}-1`, [counted(8), counted(9)], { expectedVersion: 'any' });
        await f.subscriptions.relayed(last.position, Date.now() + 10_000, () => 'relay did not publish');
        await expect.poll(count, { timeout: 30_000, interval: 100 }).toBe(10);
        await new Promise((r) => setTimeout(r, 1_000));
        expect(await count()).toBe(10);
      } finally {
        release();
        await first.stopAll();
        await other.stopAll();
        await f.close();
      }
    }, 120_000);
  });
}
