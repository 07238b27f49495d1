import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { collect, counted, eventStoreContract, readStoreContract, sharedServer, subscriptionsContract, testRegistry } from '@curbmap/testing';
import { createDatabase, postgresUnavailable, startPrivateCluster } from '@curbmap/infra';
import { PostgresEventStore } from './postgresEventStore.ts';
import { PostgresReadStore } from './postgresReadStore.ts';
import { InProcessSubscriptions } from '../inprocess/inProcessSubscriptions.ts';

// A real PostgreSQL: a private cluster started here (Debian's binaries), or DATABASE_URL. Never a mock.
const unavailable = postgresUnavailable();
const cluster = sharedServer(() => startPrivateCluster());

/** A fresh database per fixture on the one cluster: tests never see each other's events. */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createDatabase((await cluster()).url);
}

if (unavailable) {
  describe('PostgreSQL adapters', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  eventStoreContract('postgres', async () => {
    const db = await freshDatabase();
    const store = await PostgresEventStore.open(db.url, testRegistry());
    const others: PostgresEventStore[] = [];
    return {
      store,
      async withRegistry(registry) {
        const other = await PostgresEventStore.open(db.url, registry);
        others.push(other);
        return other;
      },
      async close() {
        for (const o of others) await o.close();
        await store.close();
        await db.drop();
      },
    };
  });

  readStoreContract('postgres', async () => {
    const db = await freshDatabase();
    const readStore = await PostgresReadStore.open(db.url);
    return {
      readStore,
      async close() {
        await readStore.close();
        await db.drop();
      },
    };
  });

  // Subscriptions over the PostgreSQL store and checkpoints (polling: another process may have appended).
  subscriptionsContract('in-process over postgres', async () => {
    const db = await freshDatabase();
    const store = await PostgresEventStore.open(db.url, testRegistry());
    const readStore = await PostgresReadStore.open(db.url);
    const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, pollIntervalMs: 20 });
    return {
      store,
      readStore,
      subscriptions,
      async close() {
        await subscriptions.stopAll();
        await store.close();
        await readStore.close();
        await db.drop();
      },
    };
  });

  describe('PostgreSQL event store', () => {
    it('never lets a reader pass an event whose transaction commits late: the log is read below the oldest running one', async () => {
      const db = await freshDatabase();
      const store = await PostgresEventStore.open(db.url, testRegistry());
      const slow = new pg.Client({ connectionString: db.url });
      await slow.connect();
      try {
        const before = await store.headPosition();
        // A writer takes a position and holds its transaction open...
        await slow.query('BEGIN');
        await slow.query("SELECT pg_advisory_xact_lock(hashtextextended('thing-slow', 0))");
        await slow.query(`INSERT INTO events (id, stream_id, stream_version, category, type, schema_version, occurred_at, organization_id, correlation_id, causation_id, data)
          VALUES ($1, 'thing-slow', 0, 'thing', 'test.counted', 2, '2027-01-01T00:00:00.000Z', 'org', 'c', 'c', '{"count": 1}')`, [randomUUID()]);
        // ...while another commits after it, with a higher position.
        const fast = await store.append('thing-fast', [counted(2)], { expectedVersion: 'no_stream' });
        // Readers see neither yet: the later commit would otherwise be read and the earlier one skipped for ever.
        expect(await collect(store.readAll({ from: before }))).toEqual([]);
        expect(await store.headPosition()).toBe(before);
        // But a committed event is read at the position its append reported (a usage claim's, for a void).
        expect((await store.readAt(fast.position))?.streamId).toBe('thing-fast');
        await slow.query('COMMIT');
        const read = await collect(store.readAll({ from: before }));
        expect(read.map((e) => e.streamId)).toEqual(['thing-slow', 'thing-fast']);
        expect(read[1]!.globalPosition).toBe(fast.position);
        expect(await store.headPosition()).toBe(fast.position);
      } finally {
        await slow.end();
        await store.close();
        await db.drop();
      }
    });
  });

  describe('subscriptions over PostgreSQL', () => {
    it('never skip an event appended while an older transaction is still open: appends only wake them, the store says what is readable', async () => {
      const db = await freshDatabase();
      const store = await PostgresEventStore.open(db.url, testRegistry());
      const readStore = await PostgresReadStore.open(db.url);
      // No polling to hide behind: only this process's appends wake the subscription.
      const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (l) => store.onAppended(l), appendedPositionsReadable: false, pollIntervalMs: 60_000 });
      const handled: number[] = [];
      const sub = subscriptions.subscribe('watcher', { types: ['test.counted'] }, async (batch) => void handled.push(...batch.map((e) => (e.data as { count: number }).count)));
      const older = new pg.Client({ connectionString: db.url });
      await older.connect();
      try {
        await sub.caughtUp;
        // Another writer's transaction is open (a read model's, say) when an event is appended and announced.
        await older.query('BEGIN');
        await older.query('SELECT pg_current_xact_id()');
        await store.append(`thing-${randomUUID()}`, [counted(1)], { expectedVersion: 'no_stream' });
        await new Promise((r) => setTimeout(r, 200));
        expect(handled).toEqual([]); // not readable yet: the subscription waits, it does not move past it
        await older.query('COMMIT');
        await store.append(`thing-${randomUUID()}`, [counted(2)], { expectedVersion: 'no_stream' });
        await sub.waitFor(await store.headPosition(), 5_000);
        expect(handled).toEqual([1, 2]);
      } finally {
        await older.end();
        await subscriptions.stopAll();
        await store.close();
        await readStore.close();
        await db.drop();
      }
    });
  });
}
