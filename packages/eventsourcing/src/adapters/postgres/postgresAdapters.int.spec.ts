import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { collect, counted, eventStoreContract, readStoreContract, sharedServer, subscriptionsContract, testRegistry } from '@curbmap/testing';
import { createDatabase, postgresUnavailable, startPrivateCluster } from '@curbmap/infra';
import { APPENDING_LOCK, CLAIMED, PostgresEventStore, READABLE_BOUND } from './postgresEventStore.ts';
import { PostgresReadStore } from './postgresReadStore.ts';
import { InProcessSubscriptions } from '../inprocess/inProcessSubscriptions.ts';

// A real PostgreSQL: a private cluster started here (Debian's binaries), or DATABASE_URL. Never a mock.
const unavailable = postgresUnavailable();
const cluster = sharedServer(() => startPrivateCluster());

/** A counted event's row written straight into `events`, as a writer other than the store would (version 0 of its stream). */
const insertOutsideTheStore = (client: pg.Client, streamId: string) =>
  client.query(
    `INSERT INTO events (id, stream_id, stream_version, category, type, schema_version, occurred_at, organization_id, correlation_id, causation_id, data)
     VALUES ($1, $2, 0, 'thing', 'test.counted', 2, '2027-01-01T00:00:00.000Z', 'org', 'c', 'c', '{"count": 1}')`,
    [randomUUID(), streamId],
  );

/** A fresh database per fixture on the one cluster: tests never see each other's events. */
async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createDatabase((await cluster()).url);
}

/**
 * A store on a fresh database (on `clusterUrl`, or the one cluster), and `count` clients of its own beside it
 * (writers other than the store); all closed after.
 */
async function withStoreAndClients<Clients extends pg.Client[]>(count: Clients['length'], test: (store: PostgresEventStore, clients: Clients, url: string) => Promise<void>, clusterUrl?: string): Promise<void> {
  const db = clusterUrl ? await createDatabase(clusterUrl) : await freshDatabase();
  const store = await PostgresEventStore.open(db.url, testRegistry());
  const clients = Array.from({ length: count }, () => new pg.Client({ connectionString: db.url })) as Clients;
  try {
    for (const client of clients) await client.connect();
    await test(store, clients, db.url);
  } finally {
    for (const client of clients) await client.end().catch(() => undefined);
    await store.close();
    await db.drop();
  }
}

/** The same with one client. */
const withStoreAndClient = (test: (store: PostgresEventStore, client: pg.Client, url: string) => Promise<void>) => withStoreAndClients<[pg.Client]>(1, (store, [client], url) => test(store, client, url));

/** A transaction holding an id without APPENDING_LOCK, as a projection's batch does: it never appends. */
async function readModelTransaction(client: pg.Client): Promise<void> {
  await client.query('BEGIN');
  await client.query('SELECT pg_current_xact_id()');
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
    it('never lets a reader pass an event whose transaction commits late: the log is read below the oldest running one', () =>
      withStoreAndClient(async (store, slow) => {
        const before = await store.headPosition();
        // A writer takes a position and holds its transaction open (written as an older version wrote: the table's
        // trigger takes APPENDING_LOCK for it)...
        await slow.query('BEGIN');
        await slow.query("SELECT pg_advisory_xact_lock(hashtextextended('thing-slow', 0))");
        await insertOutsideTheStore(slow, 'thing-slow');
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
      }));

    it('a reader tailing the log under concurrent appends (three stores, four writers each) misses none of them', async () => {
      const db = await freshDatabase();
      const writers = await Promise.all([1, 2, 3].map(() => PostgresEventStore.open(db.url, testRegistry())));
      const reader = await PostgresEventStore.open(db.url, testRegistry());
      try {
        let writing = true;
        const seen: string[] = [];
        const tailing = (async () => {
          let from: string | null = null;
          for (;;) {
            const last = !writing;
            let read = 0;
            for await (const e of reader.readAll({ from, batchSize: 50 })) {
              seen.push(e.globalPosition);
              from = e.globalPosition;
              read += 1;
            }
            if (last && read === 0) return;
          }
        })();
        const until = Date.now() + 3_000;
        await Promise.all(
          writers.flatMap((w) =>
            Array.from({ length: 4 }, async () => {
              for (let n = 0; Date.now() < until; n++) {
                await w.append(`thing-${randomUUID()}`, Array.from({ length: 1 + (n % 3) }, () => counted(1)), { expectedVersion: 'no_stream', claims: Array.from({ length: 100 }, () => randomUUID()) });
              }
            }),
          ),
        ).finally(() => (writing = false));
        await tailing;
        const all = (await collect(reader.readAll({ batchSize: 1_000 }))).map((e) => e.globalPosition);
        expect(all.length).toBeGreaterThan(100);
        expect(seen).toEqual(all);
      } finally {
        await Promise.all([...writers, reader].map((s) => s.close()));
        await db.drop();
      }
    });

    it('answers the last position of an append whose positions pass a power of ten, for its claims and the head', async () => {
      const db = await freshDatabase();
      const store = await PostgresEventStore.open(db.url, testRegistry());
      try {
        for (let i = 0; i < 8; i++) await store.append(`thing-${randomUUID()}`, [counted(i)], { expectedVersion: 'no_stream' });
        const claim = `claim-${randomUUID()}`;
        // Positions 9, 10 and 11: as text, 9 sorts last.
        const appended = await store.append(`thing-${randomUUID()}`, [counted(9), counted(10), counted(11)], { expectedVersion: 'no_stream', claims: [claim] });
        expect(appended.position).toMatch(/\/11$/);
        expect(await store.claimed([claim])).toEqual(new Map([[claim, appended.position]]));
        expect(await store.headPosition()).toBe(appended.position);
      } finally {
        await store.close();
        await db.drop();
      }
    });

    it('refuses events written after anything else in their transaction: it had an id before the lock, and a reader could have passed it', () =>
      withStoreAndClient(async (store, client) => {
        await client.query('BEGIN');
        await client.query('SELECT pg_current_xact_id()');
        await expect(insertOutsideTheStore(client, `thing-${randomUUID()}`)).rejects.toThrow(/first rows a transaction writes/);
        await client.query('ROLLBACK');
        // Events first, then more events in later statements of the same transaction: taken.
        await client.query('BEGIN');
        await insertOutsideTheStore(client, `thing-${randomUUID()}`);
        await insertOutsideTheStore(client, `thing-${randomUUID()}`);
        await client.query('COMMIT');
        expect((await collect(store.readAll())).length).toBe(2);
      }));

    it('looks up a batch\'s claims by the key\'s index, never by reading every claim (a usage batch asks for 1,000)', () =>
      withStoreAndClient(async (store, client) => {
        // 60,000 claims, as a few minutes of usage ingest leave, with fresh statistics.
        await client.query(`INSERT INTO event_claims (key, position) SELECT 'usage:org:' || g, '1/' || g FROM generate_series(1, 60000) AS g`);
        await client.query('ANALYZE event_claims');
        const keys = Array.from({ length: 1000 }, (_, i) => `usage:org:${i * 59 + 1}`).concat(Array.from({ length: 10 }, (_, i) => `usage:new:${i}`));
        const plan = JSON.stringify((await client.query(`EXPLAIN (FORMAT JSON) ${CLAIMED}`, [keys])).rows[0]);
        expect(plan).toContain('"Index Name":"event_claims_pkey"');
        expect(plan).not.toContain('Seq Scan');
        // And it answers what the keys claimed: the 1,000 taken, not the 10 new ones.
        const claimed = await store.claimed(keys);
        expect(claimed.size).toBe(1000);
        expect(claimed.get('usage:org:60')).toBe('1/60');
        expect(claimed.has('usage:new:0')).toBe(false);
      }));

    it('never computes a readable bound below one computed before, in any process: a reader that took the head reads up to it', () =>
      withStoreAndClients<[pg.Client, pg.Client]>(2, async (store, [projection, reader], url) => {
        const other = await PostgresEventStore.open(url, testRegistry());
        try {
          // A read model's transaction, older than the append below.
          await readModelTransaction(projection);
          const appended = await store.append('thing-a', [counted(1)], { expectedVersion: 'no_stream' });
          const head = await store.headPosition();
          expect(head).toBe(appended.position);
          // Another process computes the bound, and the projection's transaction ends in the middle of that: a cursor
          // opens the statement (its snapshot: the projection still running) and runs it after the commit.
          await reader.query('BEGIN');
          await reader.query(`DECLARE bound NO SCROLL CURSOR FOR ${READABLE_BOUND}`);
          await projection.query('COMMIT');
          const { rows } = await reader.query<{ bound: string }>('FETCH ALL FROM bound');
          await reader.query('COMMIT');
          // At or above it, so the event is readable under it: with the snapshot taken before the pg_locks scan, the
          // ended projection counted as an append still running, and the bound fell below the head.
          expect(BigInt(rows[0]!.bound)).toBeGreaterThan(BigInt(appended.position.split('/')[0]!));
          expect((await collect(other.readAll({ to: head }))).map((e) => e.globalPosition)).toEqual([appended.position]);
          // The cursor stands for the query before, whose one snapshot was its statement's. Inside the function the
          // scan and the snapshot are statements of their own, nothing can come between them here: their order is
          // checked on the function as the store created it.
          const { rows: [fn] } = await reader.query<{ src: string; volatile: string }>(`SELECT prosrc AS src, provolatile AS volatile FROM pg_proc WHERE proname = 'curbmap_readable_below'`);
          const statements = fn!.src.split(';');
          const scan = statements.findIndex((s) => s.includes('FROM pg_locks'));
          expect(scan).toBeGreaterThan(0);
          expect(statements.findIndex((s) => s.includes('pg_current_snapshot()'))).toBeGreaterThan(scan);
          expect(fn!.volatile).toBe('v');
          // Under REPEATABLE READ its snapshot would be the transaction's, older than the scan: refused.
          await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
          await expect(reader.query(READABLE_BOUND)).rejects.toThrow(/needs READ COMMITTED/);
          await reader.query('ROLLBACK');
        } finally {
          await other.close();
        }
    }));

    it('reads under READ COMMITTED whatever isolation the database defaults to', () =>
      withStoreAndClient(async (_, client, url) => {
        await client.query(`ALTER DATABASE ${client.database} SET default_transaction_isolation = 'repeatable read'`);
        const store = await PostgresEventStore.open(url, testRegistry());
        try {
          const appended = await store.append('thing-a', [counted(1)], { expectedVersion: 'no_stream' });
          expect(await store.headPosition()).toBe(appended.position);
          expect((await collect(store.readAll())).map((e) => e.globalPosition)).toEqual([appended.position]);
        } finally {
          await store.close();
        }
      }));

    it('where transactions can be prepared, counts every running one: a read model\'s holds readers back, and so does a prepared append', async () => {
      // PREPARE TRANSACTION moves locks one at a time: its id and its APPENDING_LOCK can show under two holders.
      const twoPhase = await startPrivateCluster({ settings: { max_prepared_transactions: 2 } });
      try {
        await withStoreAndClients<[pg.Client, pg.Client]>(2, async (store, [projection, preparing]) => {
          try {
            await readModelTransaction(projection);
            const held = await store.append('thing-a', [counted(1)], { expectedVersion: 'no_stream' });
            expect(await store.headPosition()).toBeNull();
            await projection.query('COMMIT');
            expect(await store.headPosition()).toBe(held.position);
            // An append prepared, then one committed after it: the later one waits for the prepared one's outcome.
            await preparing.query('BEGIN');
            await insertOutsideTheStore(preparing, 'thing-prepared');
            await preparing.query(`PREPARE TRANSACTION 'append'`);
            const after = await store.append('thing-b', [counted(1)], { expectedVersion: 'no_stream' });
            expect(await store.headPosition()).toBe(held.position);
            await preparing.query(`COMMIT PREPARED 'append'`);
            const read = await collect(store.readAll({ from: held.position }));
            expect(read.map((e) => e.streamId)).toEqual(['thing-prepared', 'thing-b']);
            expect(read[1]!.globalPosition).toBe(after.position);
          } finally {
            await preparing.query(`ROLLBACK PREPARED 'append'`).catch(() => undefined);
          }
        }, twoPhase.url);
      } finally {
        await twoPhase.stop();
      }
    });

    it('opens without rewriting its functions, and replaces one whose body is not this version\'s', () =>
      withStoreAndClient(async (store, client, url) => {
        const versions = async () => (await client.query<{ proname: string; xmin: string }>(`SELECT proname, xmin::text FROM pg_proc WHERE proname LIKE 'curbmap_%' ORDER BY proname`)).rows;
        const before = await versions();
        expect(before.map((r) => r.proname)).toEqual(['curbmap_appending', 'curbmap_readable_below']);
        // Every process of every service opens the store: the functions they are running are left as they are.
        await (await PostgresEventStore.open(url, testRegistry())).close();
        expect(await versions()).toEqual(before);
        // A body of another version (here one that holds every reader back) is replaced on open.
        await client.query(`CREATE OR REPLACE FUNCTION curbmap_readable_below() RETURNS xid8 LANGUAGE sql AS 'SELECT 1::text::xid8'`);
        const appended = await store.append('thing-a', [counted(1)], { expectedVersion: 'no_stream' });
        expect(await store.headPosition()).toBeNull();
        await (await PostgresEventStore.open(url, testRegistry())).close();
        expect(await store.headPosition()).toBe(appended.position);
        // Made STABLE by hand, its statements would share the caller's snapshot, taken before the scan: made volatile again.
        await client.query('ALTER FUNCTION curbmap_readable_below() STABLE');
        await (await PostgresEventStore.open(url, testRegistry())).close();
        expect((await client.query(`SELECT provolatile FROM pg_proc WHERE proname = 'curbmap_readable_below'`)).rows[0]).toEqual({ provolatile: 'v' });
      }));

    it('holds readers back for appends in flight only: a read model\'s open transaction, here or in another database, does not', async () => {
      const db = await freshDatabase();
      const other = await freshDatabase();
      const store = await PostgresEventStore.open(db.url, testRegistry());
      const clients = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: other.url })];
      try {
        const before = await store.headPosition();
        for (const client of clients) {
          await client.connect();
          // Older than the append below.
          await readModelTransaction(client);
        }
        // An append in flight in the other database holds nothing back here either.
        await clients[1]!.query(`SELECT pg_advisory_xact_lock_shared(${APPENDING_LOCK[0]}, ${APPENDING_LOCK[1]})`);
        const appended = await store.append('thing-now', [counted(1)], { expectedVersion: 'no_stream' });
        expect((await collect(store.readAll({ from: before }))).map((e) => e.globalPosition)).toEqual([appended.position]);
        expect(await store.headPosition()).toBe(appended.position);
      } finally {
        for (const client of clients) await client.end().catch(() => undefined);
        await store.close();
        await db.drop();
        await other.drop();
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
        // Another append's transaction is open (it holds APPENDING_LOCK and an id) when an event is appended and announced.
        await older.query('BEGIN');
        await older.query(`SELECT pg_advisory_xact_lock_shared(${APPENDING_LOCK[0]}, ${APPENDING_LOCK[1]})`);
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
