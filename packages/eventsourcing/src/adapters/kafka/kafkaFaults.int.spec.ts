import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counted, testRegistry } from '@curbmap/testing';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from '@curbmap/infra';
import { SqliteDatabase } from '../sqlite/sqliteDatabase.ts';
import { SqliteEventStore } from '../sqlite/sqliteEventStore.ts';
import { SqliteReadStore } from '../sqlite/sqliteReadStore.ts';
import { tallyProjection, type Tally } from '../sqlite/subscriptionRestart.fixture.ts';
import { startProjection } from '../../projection.ts';
import { KafkaRelay } from './kafkaRelay.ts';
import { KafkaSubscriptions } from './kafkaSubscriptions.ts';

const unavailable = kafkaUnavailable();
const fixture = fileURLToPath(new URL('./kafkaFaults.fixture.ts', import.meta.url));

/** A fixture process; `output` holds what it printed last. */
function run(mode: 'relay' | 'consume', path: string, brokers: string[]) {
  const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', fixture, mode, path, brokers.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const state = { child, last: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (state.last = d.toString().trim().split('\n').pop()!));
  child.stderr!.on('data', (d: Buffer) => (state.stderr += d.toString()));
  return state;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** The log in SQLite, a relay and subscriptions on a Kafka client of the test's own (its retry policy). */
function brokerFixture(prefix: string, brokers: string[], retry: KafkaConfig['retry']) {
  const dir = mkdtempSync(join(tmpdir(), `curbmap-kafka-${prefix}-`));
  const database = new SqliteDatabase(join(dir, 'curbmap.db'));
  const store = new SqliteEventStore(database, testRegistry());
  const readStore = new SqliteReadStore(database);
  const kafka = new Kafka({ clientId: `${prefix}-test`, brokers, logLevel: logLevel.NOTHING, retry });
  const relay = new KafkaRelay({ store, checkpoints: readStore, kafka, idleMs: 10 });
  const subscriptions = new KafkaSubscriptions({ kafka, store, checkpoints: readStore, sessionTimeoutMs: 6_000 });
  return {
    store,
    readStore,
    relay,
    subscriptions,
    async close() {
      await subscriptions.stopAll();
      await relay.stop();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (unavailable) {
  describe('Kafka faults', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('Kafka faults on the real broker', () => {
    let broker: PrivateBroker;
    beforeAll(async () => {
      broker = await startPrivateBroker();
    }, 90_000);
    afterAll(() => broker?.stop(), 30_000);

    it('kill -9 of the relay and of a consumer mid-batch, while events keep coming: every event applied exactly once', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'curbmap-kafka-faults-'));
      const path = join(dir, 'curbmap.db');
      const database = new SqliteDatabase(path);
      const store = new SqliteEventStore(database, testRegistry());
      // Reads what the other processes commit (no document cache).
      const reader = new SqliteReadStore(database, { readOnly: true });
      const tally = async () => (await reader.get<Tally>('tally', 'tally')) ?? { applied: 0, sum: 0 };
      const EVENTS = 4000;
      let appended = 0;
      const append = async (n: number) => {
        for (let end = appended + n; appended < end; appended += 10) {
          await store.append(`counter-${(appended / 10) % 5}`, Array.from({ length: 10 }, (_, j) => counted(appended + j)), { expectedVersion: 'any' });
        }
      };
      const processes: ChildProcess[] = [];
      try {
        await append(2000);
        let relay = run('relay', path, broker.brokers);
        let consumer = run('consume', path, broker.brokers);
        processes.push(relay.child, consumer.child);
        // More events while both run.
        const writing = (async () => {
          while (appended < EVENTS) {
            await append(100);
            await new Promise((r) => setTimeout(r, 25));
          }
        })();

        // The relay dies part-way (its batches are 50 events; a kill often falls between a send and its checkpoint).
        await expect.poll(() => Number(relay.last.split(' ')[1] ?? 0), { timeout: 30_000, interval: 5 }).toBeGreaterThanOrEqual(1500);
        await kill(relay.child);
        relay = run('relay', path, broker.brokers);
        processes.push(relay.child);

        // The consumer dies in the middle of a batch (the projection pauses inside its transaction every 100 events).
        await expect.poll(async () => (await tally()).applied, { timeout: 60_000, interval: 5 }).toBeGreaterThanOrEqual(1000);
        await kill(consumer.child);
        const atKill = (await tally()).applied;
        expect(atKill).toBeLessThan(EVENTS);
        consumer = run('consume', path, broker.brokers);
        processes.push(consumer.child);

        await writing;
        // The new consumer gets the partitions once the group gives up on the killed one (session timeout, 6 s).
        await expect.poll(async () => (await tally()).applied, { timeout: 90_000, interval: 200 }).toBeGreaterThanOrEqual(EVENTS);
        await new Promise((r) => setTimeout(r, 1_000)); // a duplicate would show up now
        const final = await tally();
        expect(final.applied).toBe(EVENTS);
        expect(final.sum).toBe((EVENTS * (EVENTS - 1)) / 2);
        expect(await reader.count('seen', {})).toBe(EVENTS);
        expect(relay.stderr + consumer.stderr).toBe('');
      } finally {
        for (const child of processes) await kill(child);
        database.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 180_000);

    it('the broker stopped for 10 s: appends go on (the log holds them), the relay and the consumer wait, then catch up with nothing lost or applied twice', async () => {
      const { store, readStore, relay, subscriptions, close } = brokerFixture('outage', broker.brokers, { initialRetryTime: 200, retries: 8 });
      const tally = async () => (await readStore.get<Tally>('tally', 'tally'))?.applied ?? 0;
      let n = 0;
      const append = async (count: number) => {
        for (const end = n + count; n < end; n += 10) await store.append(`counter-${(n / 10) % 5}`, Array.from({ length: 10 }, (_, j) => counted(n + j)), { expectedVersion: 'any' });
      };
      try {
        await relay.start();
        await startProjection(subscriptions, readStore, tallyProjection(0), { batchSize: 100 });
        await append(1000);
        await expect.poll(tally, { timeout: 30_000, interval: 50 }).toBe(1000);

        await broker.halt();
        const relayedBefore = await readStore.loadCheckpoint('kafka-relay');
        const down = Date.now();
        while (Date.now() - down < 10_000) {
          await append(100);
          await new Promise((r) => setTimeout(r, 200));
        }
        // Nothing was acknowledged while the broker was away, so the relay's checkpoint stayed where it was.
        expect(await readStore.loadCheckpoint('kafka-relay')).toBe(relayedBefore);
        expect(await tally()).toBe(1000);
        await broker.resume();

        await append(500);
        await expect.poll(tally, { timeout: 120_000, interval: 200 }).toBeGreaterThanOrEqual(n);
        await new Promise((r) => setTimeout(r, 1_000));
        const final = await readStore.get<Tally>('tally', 'tally');
        expect(final).toMatchObject({ applied: n, sum: (n * (n - 1)) / 2 });
      } finally {
        await close();
      }
    }, 240_000);

    it('the broker stopped while a handler works: once it is back, the group commits what the checkpoint holds, with no new message to carry it', async () => {
      const { store, relay, subscriptions, close } = brokerFixture('commit', broker.brokers, { initialRetryTime: 200, retries: 8 });
      const got: number[] = [];
      let outage: Promise<void> | null = null;
      let resumed = false;
      try {
        await relay.start();
        const sub = subscriptions.subscribe('commit-after-outage', { categories: ['lost'] }, async (batch) => {
          for (const e of batch) got.push((e.data as { count: number }).count);
          // The broker goes away under the handler: the checkpoint is saved, the commit after it cannot be.
          if (!outage) await (outage = broker.halt());
        });
        await sub.caughtUp;
        const { position } = await store.append('lost-1', [counted(7)], { expectedVersion: 'no_stream' });
        await expect.poll(() => got.length, { timeout: 30_000, interval: 50 }).toBe(1);
        await outage;
        await new Promise((r) => setTimeout(r, 2_000));
        await broker.resume();
        resumed = true;
        await sub.waitFor(position, 60_000);
        const topic = 'curbmap.lost';
        const ends = await subscriptions.topics.ends(topic);
        await expect
          .poll(async () => [...(await subscriptions.topics.committed('curbmap.commit-after-outage', topic))].every(([partition, { committed }]) => (committed ?? 0n) >= (ends.get(partition) ?? 0n)), { timeout: 90_000, interval: 500 })
          .toBe(true);
        expect(got).toEqual([7]);
      } finally {
        if (outage && !resumed) await broker.resume().catch(() => undefined);
        await close();
      }
    }, 240_000);

    it('a consumer that kafkajs gives up on during an outage (and will not restart) is started again by the subscription and reads what comes after', async () => {
      // Few, quick retries, and kafkajs told not to restart a crashed consumer itself: what it does on its own for a
      // non-retriable error (seen after outages: "Failed to find group coordinator").
      const { store, relay, subscriptions, close } = brokerFixture('crash', broker.brokers, { initialRetryTime: 100, retries: 1, restartOnFailure: async () => false });
      const got: number[] = [];
      let resumed = true;
      try {
        await relay.start();
        const sub = subscriptions.subscribe('crash-restart', { categories: ['crashy'] }, async (batch) => void got.push(...batch.map((e) => (e.data as { count: number }).count)));
        const first = await store.append('crashy-1', [counted(1)], { expectedVersion: 'no_stream' });
        await sub.waitFor(first.position, 30_000);
        resumed = false;
        await broker.halt();
        await new Promise((r) => setTimeout(r, 12_000));
        await broker.resume();
        resumed = true;
        const second = await store.append('crashy-1', [counted(2)], { expectedVersion: 'any' });
        await sub.waitFor(second.position, 90_000);
        expect(got).toEqual([1, 2]);
      } finally {
        if (!resumed) await broker.resume().catch(() => undefined);
        await close();
      }
    }, 240_000);

    it('a subscription started while the broker is away starts once it is back (it used to give up and never consume)', async () => {
      const { store, relay, subscriptions, close } = brokerFixture('late', broker.brokers, { initialRetryTime: 100, retries: 2 });
      const got: number[] = [];
      try {
        await broker.halt();
        const sub = subscriptions.subscribe('late-start', { categories: ['late'] }, async (batch) => void got.push(...batch.map((e) => (e.data as { count: number }).count)));
        await new Promise((r) => setTimeout(r, 3_000));
        await broker.resume();
        await relay.start();
        const { position } = await store.append('late-1', [counted(1), counted(2)], { expectedVersion: 'no_stream' });
        await sub.waitFor(position, 60_000);
        expect(got).toEqual([1, 2]);
      } finally {
        await close();
      }
    }, 120_000);
  });
}
