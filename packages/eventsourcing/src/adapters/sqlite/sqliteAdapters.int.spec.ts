import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, counted, eventStoreContract, noted, ORG, readStoreContract, subscriptionsContract, testRegistry } from '@curbmap/testing';
import { InProcessSubscriptions } from '../inprocess/inProcessSubscriptions.ts';
import { SqliteDatabase } from './sqliteDatabase.ts';
import { SqliteEventStore } from './sqliteEventStore.ts';
import { SqliteReadStore } from './sqliteReadStore.ts';
import { startProjection, type Projection } from '../../projection.ts';

function openDatabase() {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-sqlite-'));
  const database = new SqliteDatabase(join(dir, 'curbmap.db'));
  return { database, close: async () => (database.close(), rmSync(dir, { recursive: true, force: true })) };
}

eventStoreContract('sqlite', async () => {
  const { database, close } = openDatabase();
  return { store: new SqliteEventStore(database, testRegistry()), withRegistry: async (registry) => new SqliteEventStore(database, registry), close };
});

readStoreContract('sqlite', async () => {
  const { database, close } = openDatabase();
  return { readStore: new SqliteReadStore(database), close };
});

subscriptionsContract('in-process over sqlite', async () => {
  const { database, close } = openDatabase();
  const store = new SqliteEventStore(database, testRegistry());
  const readStore = new SqliteReadStore(database);
  const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (l) => store.onAppended(l), pollIntervalMs: 50 });
  return { store, readStore, subscriptions, close };
});

describe('SQLite transactions and positions', () => {
  it('keeps recent events for followers within a byte bound: large events are read back from the table, in order', async () => {
    const { database, close } = openDatabase();
    const store = new SqliteEventStore(database, testRegistry());
    // 48 events of about 1 MB each, appended at once (as an import of 100,000 curb zones is).
    const big = 'x'.repeat(1024 * 1024);
    await store.append('notes-1', Array.from({ length: 48 }, (_, i) => noted(`${i}:${big}`)), { expectedVersion: 'no_stream' });
    const cache = store.cacheSize();
    expect(cache.bytes).toBeLessThanOrEqual(16 * 1024 * 1024 + 2048);
    expect(cache.events).toBeLessThan(48);
    const read = await collect(store.readAll({ filter: { categories: ['notes'] } }));
    expect(read.map((e) => (e.data as { note: string }).note.split(':')[0])).toEqual(Array.from({ length: 48 }, (_, i) => String(i)));
    await close();
  });

  it('refuses a write transaction that would await between its first write and COMMIT', async () => {
    const { database, close } = openDatabase();
    database.db.exec('CREATE TABLE t (x INTEGER)');
    expect(() => database.writeTransaction(() => Promise.resolve(database.db.exec('INSERT INTO t VALUES (1)')))).toThrow('must be synchronous');
    expect(database.db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 0 });
    await close();
  });

  it('never lets a reader see a read-model write before its commit, nor after a rollback', async () => {
    const { database, close } = openDatabase();
    const readStore = new SqliteReadStore(database);
    const store = new SqliteEventStore(database, testRegistry());
    let seenDuring: unknown = 'not read';
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const failing = readStore.transaction(async (tx) => {
      await tx.put('things', { id: 'a', organizationId: ORG });
      await gate;
      throw new Error('projection bug');
    });
    // While the transaction awaits, the store keeps appending and readers read committed state only.
    await store.append('thing-1', [counted(1)], { expectedVersion: 'no_stream' });
    seenDuring = await readStore.get('things', 'a');
    release();
    await expect(failing).rejects.toThrow('projection bug');
    expect(seenDuring).toBeNull();
    expect(await readStore.get('things', 'a')).toBeNull();
    expect(await store.headPosition()).toBe('1');
    await close();
  });

  it('hands out a position once, even after the newest events are gone, and migrates an older events table', async () => {
    const { database, close } = openDatabase();
    // The table as created before positions were AUTOINCREMENT.
    database.db.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL, stream_version INTEGER NOT NULL,
      category TEXT NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL, occurred_at TEXT NOT NULL, organization_id TEXT NOT NULL, project_id TEXT,
      correlation_id TEXT NOT NULL, causation_id TEXT NOT NULL, data TEXT NOT NULL, UNIQUE (stream_id, stream_version))`);
    database.db.exec(`INSERT INTO events VALUES (1, 'e1', 'thing-1', 0, 'thing', 'test.counted', 2, '1970-01-01T00:00:00.000Z', '${ORG}', NULL, 'c', 'c', '{"count":1}')`);
    const store = new SqliteEventStore(database, testRegistry());
    expect((await collect(store.readStream('thing-1'))).map((e) => [e.id, e.globalPosition])).toEqual([['e1', '1']]);
    const { position } = await store.append('thing-1', [counted(2), counted(3)], { expectedVersion: 0 });
    expect(position).toBe('3');
    database.db.exec('DELETE FROM events WHERE position >= 2');
    const again = await new SqliteEventStore(database, testRegistry()).append('thing-1', [counted(4)], { expectedVersion: 0 });
    expect(again.position).toBe('4');
    await close();
  });

  it('creates the database file readable by its owner only', async () => {
    const { database, close } = openDatabase();
    expect(statSync(database.path).mode & 0o777).toBe(0o600);
    await close();
  });
});

describe('SQLite read store cache', () => {
  it('serves documents read by id from memory, never one older than the last commit, nor one a rollback kept', async () => {
    const { database, close } = openDatabase();
    const readStore = new SqliteReadStore(database);
    const doc = (n: number) => ({ id: 'k1', organizationId: ORG, n });
    expect(await readStore.get('cache_docs', 'k1')).toBeNull(); // remembered as missing
    await readStore.transaction(async (tx) => tx.put('cache_docs', doc(1)));
    expect(await readStore.get('cache_docs', 'k1')).toEqual(doc(1));
    await readStore.transaction(async (tx) => tx.put('cache_docs', doc(2)));
    expect(await readStore.get('cache_docs', 'k1')).toEqual(doc(2));
    // A caller changing what it got does not change what the next one gets.
    ((await readStore.get<ReturnType<typeof doc>>('cache_docs', 'k1'))!).n = 99;
    expect(await readStore.get('cache_docs', 'k1')).toEqual(doc(2));
    await expect(readStore.transaction(async (tx) => {
      await tx.put('cache_docs', doc(3));
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    expect(await readStore.get('cache_docs', 'k1')).toEqual(doc(2));
    await readStore.transaction(async (tx) => tx.delete('cache_docs', 'k1'));
    expect(await readStore.get('cache_docs', 'k1')).toBeNull();
    await readStore.transaction(async (tx) => tx.put('cache_docs', doc(4)));
    await readStore.reset('nobody', ['cache_docs']);
    expect(await readStore.get('cache_docs', 'k1')).toBeNull();
    await close();
  });
});

describe('live subscriptions', () => {
  it('take a burst of appends that wakes them from idle as one batch, not one event each', async () => {
    const { database, close } = openDatabase();
    const store = new SqliteEventStore(database, testRegistry());
    const readStore = new SqliteReadStore(database);
    const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (l) => store.onAppended(l), pollIntervalMs: 10_000, lingerMs: 300 });
    const batches: number[] = [];
    const sub = subscriptions.subscribe('burst', {}, async (batch) => void batches.push(batch.length));
    await sub.caughtUp;
    await new Promise((r) => setTimeout(r, 20)); // idle, asleep until the next append
    for (let i = 0; i < 10; i++) {
      await store.append(`thing-${i}`, [counted(i)], { expectedVersion: 'no_stream' });
      await new Promise((r) => setTimeout(r, 2));
    }
    await sub.waitFor(await store.headPosition());
    expect(batches).toEqual([10]);
    await sub.stop();
    await close();
  });

  it('that take none of what is appended move past it without reading the log, and still take what follows', async () => {
    const { database, close } = openDatabase();
    const store = new SqliteEventStore(database, testRegistry());
    const readStore = new SqliteReadStore(database);
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, key, receiver) {
        if (key === 'readAll') return (...args: Parameters<SqliteEventStore['readAll']>) => ((reads += 1), target.readAll(...args));
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const subscriptions = new InProcessSubscriptions({ store: counting, checkpoints: readStore, onAppended: (l) => store.onAppended(l), pollIntervalMs: 10_000 });
    const handled: string[] = [];
    const sub = subscriptions.subscribe('counts-only', { categories: ['counts'] }, async (batch) => void handled.push(...batch.map((e) => e.streamId)));
    await sub.caughtUp;
    await new Promise((r) => setTimeout(r, 20)); // asleep at the head
    const readsBefore = reads;
    for (let i = 0; i < 20; i++) await store.append(`notes-${i}`, [noted(`n${i}`)], { expectedVersion: 'no_stream' });
    const skipped = await store.headPosition();
    await sub.waitFor(skipped, 1000);
    expect(reads).toBe(readsBefore);
    expect(sub.position()).toBe(skipped);
    await store.append('counts-1', [counted(1)], { expectedVersion: 'no_stream' });
    await sub.waitFor(await store.headPosition(), 1000);
    expect(handled).toEqual(['counts-1']);
    await sub.stop();
    await close();
  });
});

describe('SQLite checkpoints', () => {
  /**
   * A database file as startBackgroundCheckpoints leaves the main connection (no checkpoint inside commits), with no
   * thread copying either, and a table of blobs: `commit` writes one in a transaction of its own. Removed after.
   */
  function withBlobs(test: (wal: { database: SqliteDatabase; commit(data: string): void; walBytes(): number; rows(): number }) => void): void {
    const dir = mkdtempSync(join(tmpdir(), 'curbmap-wal-'));
    const path = join(dir, 'curbmap.db');
    const database = new SqliteDatabase(path);
    try {
      database.db.exec('PRAGMA wal_autocheckpoint = 0; CREATE TABLE blobs (id INTEGER PRIMARY KEY, data TEXT NOT NULL)');
      const insert = database.db.prepare('INSERT INTO blobs (data) VALUES (?)');
      test({
        database,
        commit: (data) => void database.writeTransaction(() => insert.run(data)),
        walBytes: () => statSync(`${path}-wal`).size,
        rows: () => (database.db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n,
      });
    } finally {
      database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('keeps the WAL near 64 MB under writes that never pause, where no checkpoint elsewhere catches up', () =>
    withBlobs(({ commit, walBytes, rows }) => {
      const data = 'x'.repeat(256 * 1024);
      // 160 MB in 640 transactions, back to back.
      for (let i = 0; i < 640; i++) commit(data);
      expect(walBytes()).toBeLessThan(80 * 1024 * 1024);
      expect(rows()).toBe(640);
    }));

  it('cuts the WAL file back when it starts over: a WAL that once grew is not copied by the writer for good', () =>
    withBlobs(({ database, commit, walBytes, rows }) => {
      // A catch-up: 24 MB of commits with nothing copying them back.
      for (let i = 0; i < 96; i++) commit('x'.repeat(256 * 1024));
      expect(walBytes()).toBeGreaterThan(24 * 1024 * 1024);
      // Copied back (as the checkpointer thread does), then the next commit starts the WAL over: the file shrinks
      // with it. Before, it kept its 24 MB, and a file past the writer's bound made it checkpoint every 32 commits.
      database.db.exec('PRAGMA wal_checkpoint(PASSIVE)');
      commit('y');
      expect(walBytes()).toBeLessThanOrEqual(16 * 1024 * 1024);
      expect(rows()).toBe(97);
    }));

  it('checkpoints the WAL on a thread of its own: commits on the main thread never do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curbmap-ckpt-'));
    const path = join(dir, 'curbmap.db');
    const database = new SqliteDatabase(path);
    database.startBackgroundCheckpoints(50);
    try {
      expect(database.db.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 });
      const store = new SqliteEventStore(database, testRegistry());
      const before = statSync(path).size;
      // About 8 MB of events: past the 1,000 pages at which SQLite would checkpoint inside a commit.
      for (let i = 0; i < 20; i++) await store.append(`notes-${i}`, Array.from({ length: 100 }, () => noted('x'.repeat(4000))), { expectedVersion: 'no_stream' });
      // The database file grows only by checkpoints, and the main connection makes none.
      const deadline = Date.now() + 5000;
      while (statSync(path).size <= before + 4_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(statSync(path).size).toBeGreaterThan(before + 4_000_000);
    } finally {
      await database.stopBackgroundCheckpoints();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite checkpoints when their thread dies', () => {
  it('has the main connection checkpoint by itself again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curbmap-ckpt-'));
    const database = new SqliteDatabase(join(dir, 'curbmap.db'));
    try {
      database.startBackgroundCheckpoints(50);
      expect(database.db.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 });
      const worker = (database as unknown as { checkpointer: { terminate(): Promise<number> } }).checkpointer;
      await worker.terminate();
      await new Promise((r) => setTimeout(r, 20));
      expect(database.db.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 1000 });
    } finally {
      database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('projections and the event loop', () => {
  it('lets other work run while a projection applies a large batch', async () => {
    const { database, close } = openDatabase();
    const store = new SqliteEventStore(database, testRegistry());
    const readStore = new SqliteReadStore(database);
    await store.append('counts-1', Array.from({ length: 400 }, (_, i) => counted(i)), { expectedVersion: 'no_stream' });
    let applied = 0;
    let appliedWhenOtherWorkRan = -1;
    const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, pollIntervalMs: 50 });
    const sub = await startProjection(subscriptions, readStore, {
      name: `loop-${Date.now()}`,
      filter: { categories: ['counts'] },
      collections: ['loop_counts'],
      async apply(_event, tx) {
        // Work that arrives meanwhile (a request) is scheduled as the batch begins.
        if (applied === 0) setImmediate(() => (appliedWhenOtherWorkRan = applied));
        // Each event takes a tenth of a millisecond: the batch, 40 ms, is far longer than a pause's interval.
        for (const until = performance.now() + 0.1; performance.now() < until; );
        applied += 1;
        await tx.put('loop_counts', { id: 'total', organizationId: ORG, applied });
      },
    }, { batchSize: 400 });
    await sub.caughtUp;
    await subscriptions.stopAll();
    expect(applied).toBe(400);
    expect(appliedWhenOtherWorkRan).toBeGreaterThan(0);
    expect(appliedWhenOtherWorkRan).toBeLessThan(400);
    await close();
  });
});

describe('subscription batches of large events', () => {
  it('hold about 2 MB of event data, not the 500 events asked for, and handle every event once', async () => {
    const { database, close } = openDatabase();
    const store = new SqliteEventStore(database, testRegistry());
    const readStore = new SqliteReadStore(database);
    // 40 events of 1 MB each (an import's chunks), read back from the table by a new subscription.
    for (let i = 0; i < 40; i++) await store.append(`bulky-${i}`, [noted(String(i).padEnd(1024 * 1024, '.'))], { expectedVersion: 'no_stream' });
    const reader = new SqliteEventStore(database, testRegistry());
    const subscriptions = new InProcessSubscriptions({ store: reader, checkpoints: readStore, pollIntervalMs: 50 });
    const batches: number[] = [];
    const seen: string[] = [];
    const sub = subscriptions.subscribe('bulky-reader', { categories: ['bulky'] }, async (batch) => {
      batches.push(batch.length);
      for (const e of batch) seen.push((e.data as { note: string }).note.replace(/\.+$/, ''));
    }, { batchSize: 500 });
    await sub.caughtUp;
    await subscriptions.stopAll();
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
    expect(Math.max(...batches)).toBe(2);
    expect(batches.length).toBe(20);
    await close();
  });

  it('know the largest event of a log written before event sizes were kept, and of one appended by another client', async () => {
    const { database, close } = openDatabase();
    const store = new SqliteEventStore(database, testRegistry());
    for (let i = 0; i < 6; i++) await store.append(`bulky-${i}`, [noted('x'.repeat(1000))], { expectedVersion: 'no_stream' });
    database.db.exec('DROP TABLE event_sizes');
    const upgraded = new SqliteEventStore(database, testRegistry());
    expect((await collect(upgraded.readAllPages!({ batchSize: 100, maxBytes: 2500 }))).map((page) => page.events.length)).toEqual([3, 3]);
    // A larger event appended by another client of the same file raises the bound this one reads.
    await upgraded.append('bulky-9', [noted('y'.repeat(3000))], { expectedVersion: 'no_stream' });
    expect((await collect(store.readAllPages!({ batchSize: 100, maxBytes: 2500 }))).map((page) => page.events.length)).toEqual([3, 3, 1]);
    await close();
  });
});

describe('a projection catching up into empty collections', () => {
  const indexesOf = (database: SqliteDatabase, table: string) =>
    (database.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name").all(table) as { name: string }[]).map((r) => r.name);
  const tally = (name: string, seen: { indexes: string[] }[], database: SqliteDatabase): Projection => ({
    name,
    filter: { categories: ['counts'] },
    collections: ['bulk_counts'],
    indexes: { bulk_counts: ['count'] },
    batchSize: 50,
    async apply(event, tx) {
      if (seen.length < 3) seen.push({ indexes: indexesOf(database, 'rm_bulk_counts') });
      await tx.put('bulk_counts', { id: event.id, organizationId: ORG, count: (event.data as { count: number }).count });
    },
  });

  it('loads without secondary indexes and builds them before it says it is caught up; stopped halfway, the next start builds them', async () => {
    const { database, close } = openDatabase();
    const store = new SqliteEventStore(database, testRegistry());
    const readStore = new SqliteReadStore(database);
    await store.append('counts-1', Array.from({ length: 300 }, (_, i) => counted(i)), { expectedVersion: 'no_stream' });
    // The id's own index too: a load appends to a table with no index at all.
    const all = ['rm_bulk_counts_count_id', 'rm_bulk_counts_id', 'rm_bulk_counts_org_id'];
    const cacheSize = () => (database.db.prepare('PRAGMA cache_size').get() as { cache_size: number }).cache_size;
    const cacheBefore = cacheSize();

    // Stopped after its first batch: its documents are there, its indexes not yet.
    const seen: { indexes: string[] }[] = [];
    let subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, pollIntervalMs: 50 });
    const first = tally('bulk-tally', seen, database);
    let stopAfterFirst!: () => void;
    const stopped = new Promise<void>((resolve) => (stopAfterFirst = resolve));
    const sub = await startProjection(subscriptions, readStore, {
      ...first,
      async apply(event, tx) {
        await first.apply(event, tx);
        if (event.streamVersion === 50) stopAfterFirst();
      },
    });
    await stopped;
    expect(sub.isCaughtUp()).toBe(false);
    await subscriptions.stopAll();
    expect(seen[0]!.indexes).toEqual([]);
    expect(indexesOf(database, 'rm_bulk_counts')).toEqual([]);
    expect(cacheSize()).not.toBe(cacheBefore);

    // Started again: documents are there, so the indexes are built at once and the rest goes into them.
    const again: { indexes: string[] }[] = [];
    subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, pollIntervalMs: 50 });
    const resumed = await startProjection(subscriptions, readStore, tally('bulk-tally', again, database));
    await resumed.caughtUp;
    expect(again[0]!.indexes).toEqual(all);
    // The load left behind ended with that start: its page cache is given back.
    expect(cacheSize()).toBe(cacheBefore);
    expect(await readStore.count('bulk_counts', { organizationId: ORG })).toBe(300);
    await subscriptions.stopAll();

    // A rebuild (a new name, emptied collections) loads without them again, and is caught up only with them built.
    const rebuilt: { indexes: string[] }[] = [];
    subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, pollIntervalMs: 50 });
    const fresh = await startProjection(subscriptions, readStore, tally('bulk-tally.v2', rebuilt, database));
    // The subscription itself (what readiness asks) is caught up only with the indexes built.
    const atCaughtUp = fresh.caughtUp.then(() => indexesOf(database, 'rm_bulk_counts'));
    expect(await atCaughtUp).toEqual(all);
    expect(fresh.isCaughtUp()).toBe(true);
    expect(rebuilt[0]!.indexes).toEqual([]);
    expect(indexesOf(database, 'rm_bulk_counts')).toEqual(all);
    // Its larger page cache is given back.
    expect(cacheSize()).toBe(cacheBefore);
    expect((await readStore.find('bulk_counts', { organizationId: ORG, count: { $gte: 298 } })).length).toBe(2);
    await subscriptions.stopAll();
    await close();
  });
});

describe('indexed fields kept in columns', () => {
  type Doc = { id: string; organizationId: string; v?: unknown; n?: number };
  // Every kind of value a document's field may hold, json_extract's answer the reference.
  const docs: Doc[] = [
    { id: 'a', organizationId: ORG, v: true, n: 3 },
    { id: 'b', organizationId: ORG, v: false, n: 1.5 },
    { id: 'c', organizationId: ORG, v: 'text', n: 1_700_000_000_000 },
    { id: 'd', organizationId: ORG, v: null, n: -2 },
    { id: 'e', organizationId: ORG, n: 0 },
    { id: 'f', organizationId: ORG, v: 7, n: 3 },
    { id: 'g', organizationId: ORG, v: 2.25 },
    { id: 'h', organizationId: ORG, v: { nested: [1] }, n: 12 },
    { id: 'i', organizationId: 'another-org', v: true, n: 3 },
  ];
  const queries = async (rs: SqliteReadStore, c: string) => ({
    byValue: await Promise.all([true, false, 'text', 7, 2.25, null].map(async (v) => (await rs.find<Doc>(c, { organizationId: ORG, v } as never)).map((d) => d.id))),
    ranges: (await rs.find<Doc>(c, { organizationId: ORG, n: { $gte: 1.5, $lt: 1e13 } }, { orderBy: 'n', direction: 'desc' })).map((d) => d.id),
    ordered: (await rs.find<Doc>(c, { organizationId: ORG }, { orderBy: 'v' })).map((d) => d.id),
    counted: await rs.count(c, { organizationId: ORG, n: 3 }),
    paged: await (async () => {
      const ids: string[] = [];
      let after: string | null | undefined;
      do {
        const page = await rs.findPage<Doc>(c, { organizationId: ORG }, { orderBy: 'n', limit: 2, ...(after ? { after } : {}) });
        ids.push(...page.items.map((d) => d.id));
        after = page.next;
      } while (after);
      return ids;
    })(),
  });
  const columnsOf = (database: SqliteDatabase, table: string) => (database.db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);

  it('answer every query as json_extract does, through their own index, and a restarted store keeps writing them', async () => {
    const { database, close } = openDatabase();
    const rs = new SqliteReadStore(database);
    // Documents before the index: json_extract, as before. Empty when indexed: columns. Bulk loaded: columns too.
    await rs.transaction(async (tx) => {
      for (const d of docs) await tx.put('in_json', d);
    });
    const end = await rs.bulkLoad(['loaded'], { loaded: ['v', 'n'] });
    for (const c of ['in_json', 'in_columns', 'loaded']) for (const f of ['v', 'n']) if (c !== 'loaded') await rs.ensureIndex(c, f);
    await rs.transaction(async (tx) => {
      for (const d of docs) {
        await tx.put('in_columns', d);
        await tx.put('loaded', d);
      }
    });
    for (const f of ['v', 'n']) await rs.ensureIndex('loaded', f);
    await end!();
    expect(columnsOf(database, 'rm_in_json')).toEqual(['id', 'organization_id', 'doc']);
    expect(columnsOf(database, 'rm_in_columns')).toEqual(['id', 'organization_id', 'doc', 'f_v', 'f_n']);
    expect(columnsOf(database, 'rm_loaded')).toEqual(['id', 'organization_id', 'doc', 'f_v', 'f_n']);
    const reference = await queries(rs, 'in_json');
    expect(reference.byValue).toEqual([['a'], ['b'], ['c'], ['f'], ['g'], ['d', 'e']]);
    expect(reference.ranges).toEqual(['c', 'h', 'f', 'a', 'b']);
    expect(await queries(rs, 'in_columns')).toEqual(reference);
    expect(await queries(rs, 'loaded')).toEqual(reference);
    // The column's index serves a query on it (json_extract is never evaluated for it).
    const plan = (database.db.prepare('EXPLAIN QUERY PLAN SELECT doc FROM rm_in_columns WHERE organization_id = ? AND f_n >= ? ORDER BY f_n').all(ORG, 1) as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan).toContain('rm_in_columns_n_id');
    expect(plan).not.toContain('TEMP B-TREE');

    // Another process on the same file learns the columns: its writes (upserts, inserts) fill them.
    const again = new SqliteReadStore(database);
    await again.transaction(async (tx) => {
      await tx.put('in_columns', { id: 'a', organizationId: ORG, v: 'changed', n: 99 });
      await tx.put('in_columns', { id: 'z', organizationId: ORG, v: 'new', n: 98 });
    });
    expect((await again.find<Doc>('in_columns', { organizationId: ORG, n: { $gte: 98, $lt: 1000 } }, { orderBy: 'n' })).map((d) => [d.id, d.v])).toEqual([['z', 'new'], ['a', 'changed']]);
    expect(database.db.prepare("SELECT id, f_v, f_n FROM rm_in_columns WHERE id IN ('a', 'z') ORDER BY id").all().map((r) => ({ ...r }))).toEqual([{ id: 'a', f_v: 'changed', f_n: 99 }, { id: 'z', f_v: 'new', f_n: 98 }]);
    // A snapshot's reader queries the columns too.
    expect(await again.snapshot(async (reader) => (await reader.find<Doc>('in_columns', { organizationId: ORG, v: 'new' })).map((d) => d.id))).toEqual(['z']);
    await close();
  });

  it('are added once, by whichever store indexes the empty table first; another store then learns them', async () => {
    const { database, close } = openDatabase();
    const first = new SqliteReadStore(database);
    const second = new SqliteReadStore(database);
    // Both know the table, empty and without columns.
    expect(await first.count('shared', {})).toBe(0);
    expect(await second.count('shared', {})).toBe(0);
    await second.ensureIndex('shared', 'n');
    // The first finds the column there (no second ALTER, which SQLite would refuse) and writes it.
    await first.ensureIndex('shared', 'n');
    await first.transaction((tx) => tx.put('shared', docs[0]!));
    expect(database.db.prepare('SELECT f_n FROM rm_shared').all().map((r) => ({ ...r }))).toEqual([{ f_n: 3 }]);
    // A table another store wrote a row into meanwhile keeps its field in the JSON.
    expect(await first.count('busy', {})).toBe(0);
    await second.transaction((tx) => tx.put('busy', docs[0]!));
    await first.ensureIndex('busy', 'n');
    expect(columnsOf(database, 'rm_busy')).toEqual(['id', 'organization_id', 'doc']);
    expect((await first.find<Doc>('busy', { organizationId: ORG, n: 3 })).map((d) => d.id)).toEqual(['a']);
    await close();
  });

  it('take the place of an index json_extract built on a table a reset emptied', async () => {
    const { database, close } = openDatabase();
    const rs = new SqliteReadStore(database);
    await rs.transaction((tx) => tx.put('emptied', docs[0]!));
    await rs.ensureIndex('emptied', 'n');
    expect(columnsOf(database, 'rm_emptied')).toEqual(['id', 'organization_id', 'doc']);
    await rs.reset('emptied.v1', ['emptied']);
    await rs.ensureIndex('emptied', 'n');
    await rs.transaction(async (tx) => {
      for (const d of docs) await tx.put('emptied', d);
    });
    expect(columnsOf(database, 'rm_emptied')).toEqual(['id', 'organization_id', 'doc', 'f_n']);
    const index = database.db.prepare("SELECT sql FROM sqlite_master WHERE name = 'rm_emptied_n_id'").get() as { sql: string };
    expect(index.sql).toContain('f_n');
    expect((await rs.find<Doc>('emptied', { organizationId: ORG, n: 3 })).map((d) => d.id)).toEqual(['a', 'f']);
    await close();
  });
});

describe('a bulk load and another writer', () => {
  it('fails the commit of a document its id filter took for new, and looks ids up from then on', async () => {
    type Doc = { id: string; organizationId: string; n: number };
    const { database, close } = openDatabase();
    const readStore = new SqliteReadStore(database);
    const end = await readStore.bulkLoad(['bulk_docs']);
    expect(end).not.toBeNull();
    await readStore.transaction((tx) => tx.put('bulk_docs', { id: 'mine', organizationId: ORG, n: 1 }));
    // Written behind the store's back (another connection would do the same).
    database.db.prepare('INSERT INTO rm_bulk_docs (id, organization_id, doc) VALUES (?, ?, ?)').run('theirs', ORG, JSON.stringify({ id: 'theirs', organizationId: ORG, n: 7 }));
    const bump = () =>
      readStore.transaction(async (tx) => {
        const doc = await tx.get<Doc>('bulk_docs', 'theirs');
        await tx.put('bulk_docs', { id: 'theirs', organizationId: ORG, n: (doc?.n ?? 0) + 1 });
      });
    await expect(bump()).rejects.toThrow(/UNIQUE constraint failed/);
    expect((await readStore.get<Doc>('bulk_docs', 'theirs'))?.n).toBe(7);
    await bump();
    expect((await readStore.get<Doc>('bulk_docs', 'theirs'))?.n).toBe(8);
    expect((await readStore.get<Doc>('bulk_docs', 'mine'))?.n).toBe(1);
    await end!();
    await close();
  });

  it('appends to a table with no index, indexes its ids the first time it must find one, and keeps the latest of an id written twice', async () => {
    type Doc = { id: string; organizationId: string; n: number };
    const { database, close } = openDatabase();
    const idIndex = () => database.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'rm_heap_docs_id'").get() !== undefined;
    const readStore = new SqliteReadStore(database);
    const end = await readStore.bulkLoad(['heap_docs']);
    await readStore.transaction(async (tx) => {
      for (let i = 0; i < 100; i++) await tx.put('heap_docs', { id: `d${i}`, organizationId: ORG, n: i });
    });
    // New ids (unknown to the load) are appended: no index yet, and none needed.
    expect(await readStore.get<Doc>('heap_docs', 'd100')).toBeNull();
    expect(idIndex()).toBe(false);
    // An id the load wrote: found through the index it builds now, and updated in place.
    expect((await readStore.get<Doc>('heap_docs', 'd7'))?.n).toBe(7);
    expect(idIndex()).toBe(true);
    await readStore.transaction((tx) => tx.put('heap_docs', { id: 'd7', organizationId: ORG, n: 70 }));
    expect((await readStore.get<Doc>('heap_docs', 'd7'))?.n).toBe(70);
    expect(await readStore.count('heap_docs', {})).toBe(100);
    await end!();

    // An id written twice into a table with no index (only another writer can): the index keeps its latest row.
    const again = await readStore.bulkLoad(['heap_twice']);
    await readStore.transaction((tx) => tx.put('heap_twice', { id: 'x', organizationId: ORG, n: 1 }));
    database.db.prepare('INSERT INTO rm_heap_twice (id, organization_id, doc) VALUES (?, ?, ?)').run('x', ORG, JSON.stringify({ id: 'x', organizationId: ORG, n: 2 }));
    await again!();
    expect(await readStore.count('heap_twice', {})).toBe(1);
    expect((await readStore.get<Doc>('heap_twice', 'x'))?.n).toBe(2);
    await close();
  });

  it('retries a put of an id another connection wrote into the indexed table, and a transaction whose missing document another one wrote meanwhile', async () => {
    type Doc = { id: string; organizationId: string; n: number };
    const { database, close } = openDatabase();
    const readStore = new SqliteReadStore(database);
    const end = await readStore.bulkLoad(['race_docs']);
    await readStore.transaction((tx) => tx.put('race_docs', { id: 'a', organizationId: ORG, n: 1 }));
    // A get of an id the load wrote indexes the table; then another connection writes x.
    expect((await readStore.get<Doc>('race_docs', 'a'))?.n).toBe(1);
    database.db.prepare('INSERT INTO rm_race_docs (id, organization_id, doc) VALUES (?, ?, ?)').run('x', ORG, JSON.stringify({ id: 'x', organizationId: ORG, n: 7 }));
    // A put of x without a get: taken for new, refused by the index; retried, it replaces the row.
    const putX = () => readStore.transaction((tx) => tx.put('race_docs', { id: 'x', organizationId: ORG, n: 9 }));
    await expect(putX()).rejects.toThrow(/UNIQUE constraint failed/);
    await putX();
    expect((await readStore.get<Doc>('race_docs', 'x'))?.n).toBe(9);

    await end!();

    // In a load (a table with no index), two transactions find y missing and the second commits first: the first,
    // which decided on nothing, is refused rather than appending y twice, and its retry counts on the second's.
    const load = await readStore.bulkLoad(['race_heap']);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const bump = (wait?: Promise<void>) =>
      readStore.transaction(async (tx) => {
        const doc = await tx.get<Doc>('race_heap', 'y');
        if (wait) await wait;
        await tx.put('race_heap', { id: 'y', organizationId: ORG, n: (doc?.n ?? 0) + 1 });
      });
    const first = bump(held);
    await bump();
    release();
    await expect(first).rejects.toThrow(/written by another transaction/);
    await bump();
    expect((await readStore.get<Doc>('race_heap', 'y'))?.n).toBe(2);
    await load!();
    expect(await readStore.count('race_heap', {})).toBe(1);

    // A transaction that found z missing commits after another one's failure dropped the load's filter: it upserts
    // (through the id's index, built then), never appends z a second time.
    const dropped = await readStore.bulkLoad(['race_drop']);
    await readStore.transaction((tx) => tx.put('race_drop', { id: 'seen', organizationId: ORG, n: 1 }));
    let go!: () => void;
    const waiting = new Promise<void>((resolve) => (go = resolve));
    const late = readStore.transaction(async (tx) => {
      const doc = await tx.get<Doc>('race_drop', 'z');
      await waiting;
      await tx.put('race_drop', { id: 'z', organizationId: ORG, n: (doc?.n ?? 0) + 1 });
    });
    await readStore.transaction((tx) => tx.put('race_drop', { id: 'z', organizationId: ORG, n: 5 }));
    database.db.prepare('INSERT INTO rm_race_drop (id, organization_id, doc) VALUES (?, ?, ?)').run('w', ORG, JSON.stringify({ id: 'w', organizationId: ORG, n: 7 }));
    await expect(readStore.transaction((tx) => tx.put('race_drop', { id: 'other', organizationId: ORG, n: 1 }))).rejects.toThrow(/UNIQUE constraint failed/);
    go();
    await late;
    expect(await readStore.count('race_drop', {})).toBe(3);
    await dropped!();
    await close();
  });

  it('indexes the ids of a load a stopped process left unindexed when the next one opens the table', async () => {
    const { database, close } = openDatabase();
    const first = new SqliteReadStore(database);
    await first.bulkLoad(['left_docs']);
    await first.transaction(async (tx) => {
      for (let i = 0; i < 10; i++) await tx.put('left_docs', { id: `d${i}`, organizationId: ORG, n: i });
    });
    // A new process (a new store on the same file): the table has its documents and no index.
    const next = new SqliteReadStore(database);
    expect(await next.bulkLoad(['left_docs'])).toBeNull();
    const unique = database.db.prepare('PRAGMA index_list(rm_left_docs)').all() as { name: string; unique: number }[];
    expect(unique.filter((i) => i.unique).map((i) => i.name)).toEqual(['rm_left_docs_id']);
    // Upserts (which need a unique index) work on it.
    await next.transaction((tx) => tx.put('left_docs', { id: 'd3', organizationId: ORG, n: 30 }));
    expect((await next.get<{ n: number } & { id: string; organizationId: string }>('left_docs', 'd3'))?.n).toBe(30);
    expect(await next.count('left_docs', {})).toBe(10);
    await close();
  });
});
