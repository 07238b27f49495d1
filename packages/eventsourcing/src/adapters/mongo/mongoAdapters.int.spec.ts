import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { counted, ORG, readStoreContract, sharedServer, subscriptionsContract, testRegistry } from '@curbmap/testing';
import { mongoUnavailable, startPrivateMongo } from '@curbmap/infra';
import { MongoReadStore } from './mongoReadStore.ts';
import { InProcessSubscriptions } from '../inprocess/inProcessSubscriptions.ts';
import { SqliteDatabase } from '../sqlite/sqliteDatabase.ts';
import { SqliteEventStore } from '../sqlite/sqliteEventStore.ts';
import { startProjection, updateOnce, type Projection } from '../../projection.ts';
import type { Document, Page } from '../../ports/readStore.ts';

// A real MongoDB-wire server: FerretDB started here (built from the Go module proxy), or MONGO_URL. Never a mock.
const unavailable = mongoUnavailable();
const server = sharedServer(() => startPrivateMongo());

/** A database of its own per fixture on the one server. */
async function freshDatabaseUrl(): Promise<string> {
  return `${(await server()).url.replace(/\/$/, '')}/t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

async function openStore(url?: string): Promise<{ readStore: MongoReadStore; url: string; close(): Promise<void> }> {
  const dbUrl = url ?? (await freshDatabaseUrl());
  const readStore = await MongoReadStore.open(dbUrl);
  return {
    readStore,
    url: dbUrl,
    async close() {
      if (!url) await readStore.database.dropDatabase().catch(() => undefined);
      await readStore.close();
    },
  };
}

interface Counter extends Document {
  applied: number;
  sum: number;
}

/** Sums counted events per stream, once each (updateOnce): a replayed batch changes nothing. */
const sums: Projection = {
  name: 'mongo.sums',
  filter: { categories: ['thing'] },
  collections: ['sums'],
  batchSize: 10,
  async apply(event, tx) {
    await updateOnce<Counter>(tx, 'sums', event.streamId, event, (current) => ({
      id: event.streamId,
      organizationId: event.organizationId,
      applied: (current?.applied ?? 0) + 1,
      sum: (current?.sum ?? 0) + (event.data as { count: number }).count,
    }));
  },
};

if (unavailable) {
  describe('MongoDB adapters', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  readStoreContract('mongodb (FerretDB unless MONGO_URL)', () => openStore());

  // Events in SQLite, subscription checkpoints and read models on MongoDB (MONGO_URL in embedded mode).
  subscriptionsContract('in-process over sqlite, checkpoints on mongodb', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curbmap-sqlite-'));
    const database = new SqliteDatabase(join(dir, 'curbmap.db'));
    const store = new SqliteEventStore(database, testRegistry());
    const mongo = await openStore();
    const subscriptions = new InProcessSubscriptions({ store, checkpoints: mongo.readStore, onAppended: (l) => store.onAppended(l), pollIntervalMs: 50 });
    return {
      store,
      readStore: mongo.readStore,
      subscriptions,
      async close() {
        await subscriptions.stopAll();
        await mongo.close();
        database.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });

  describe('MongoDB read store without transactions', () => {
    it('stores what FerretDB refuses as it is (nested arrays, keys with dots) and reads it back unchanged', async () => {
      const { readStore, close } = await openStore();
      try {
        const zone = {
          id: 'z1',
          organizationId: ORG,
          geometry: { type: 'Polygon', coordinates: [[[-122.4, 37.7], [-122.3, 37.7], [-122.3, 37.8], [-122.4, 37.7]]] },
          lines: [{ path: [[1, 2], [3, 4]] }],
          appliedVersions: { 'curb.zone-1': 3, 'stream.with.dots': 1 },
          notes: ['plain', 'array'],
          missing: undefined,
          when: new Date('2027-01-01T00:00:00.000Z'),
        };
        await readStore.transaction((tx) => tx.put('zones', zone));
        expect(await readStore.get('zones', 'z1')).toEqual(JSON.parse(JSON.stringify(zone)));
        expect((await readStore.find('zones', { organizationId: ORG })).map((z) => z.id)).toEqual(['z1']);
      } finally {
        await close();
      }
    });

    it('replays a batch whose documents were written but not its checkpoint (a crash between the two) without changing a document twice', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'curbmap-sqlite-'));
      const database = new SqliteDatabase(join(dir, 'curbmap.db'));
      const store = new SqliteEventStore(database, testRegistry());
      const mongo = await openStore();
      const start = async () => {
        const subscriptions = new InProcessSubscriptions({ store, checkpoints: mongo.readStore, onAppended: (l) => store.onAppended(l), pollIntervalMs: 20 });
        const sub = await startProjection(subscriptions, mongo.readStore, sums);
        return { subscriptions, sub };
      };
      try {
        for (let s = 0; s < 3; s++) await store.append(`thing-${s}`, Array.from({ length: 10 }, (_, i) => counted(i + 1)), { expectedVersion: 'no_stream' });
        let running = await start();
        await running.sub.waitFor(await store.headPosition(), 10_000);
        await running.subscriptions.stopAll();
        const before = await mongo.readStore.find<Counter>('sums', { organizationId: ORG });
        expect(before.map((c) => [c.applied, c.sum])).toEqual([[10, 55], [10, 55], [10, 55]]);
        // The documents are there, the checkpoint is not: as if the process died between the two writes.
        await mongo.readStore.transaction((tx) => tx.saveCheckpoint(sums.name, null));
        running = await start();
        await running.sub.waitFor(await store.headPosition(), 10_000);
        await running.subscriptions.stopAll();
        expect(await mongo.readStore.find<Counter>('sums', { organizationId: ORG })).toEqual(before);
        expect(await mongo.readStore.loadCheckpoint(sums.name)).toBe(await store.headPosition());
      } finally {
        await mongo.close();
        database.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('keeps a snapshot while another process writes, and drops the versions it kept once it ends', async () => {
      const a = await openStore();
      const b = await openStore(a.url);
      try {
        await a.readStore.transaction(async (tx) => {
          for (let i = 0; i < 6; i++) await tx.put('zones', { id: `z${i}`, organizationId: ORG, rank: i });
          await tx.saveCheckpoint('p', '6');
        });
        const seen = await a.readStore.snapshot(async (reader) => {
          await b.readStore.transaction(async (tx) => {
            await tx.put('zones', { id: 'z2', organizationId: ORG, rank: 20 });
            await tx.delete('zones', 'z3');
            await tx.put('zones', { id: 'z9', organizationId: ORG, rank: 9 });
            await tx.saveCheckpoint('p', '9');
          });
          const page = await reader.findPage<Document & { rank: number }>('zones', { organizationId: ORG }, { orderBy: 'rank', limit: 3 });
          const rest = await reader.findPage<Document & { rank: number }>('zones', { organizationId: ORG }, { orderBy: 'rank', limit: 10, after: page.next });
          return { ranks: [...page.items, ...rest.items].map((z) => z.rank), count: await reader.count('zones', { organizationId: ORG }), z3: await reader.get('zones', 'z3'), checkpoint: await reader.loadCheckpoint('p') };
        });
        expect(seen).toEqual({ ranks: [0, 1, 2, 3, 4, 5], count: 6, z3: { id: 'z3', organizationId: ORG, rank: 3 }, checkpoint: '6' });
        expect((await a.readStore.find<Document & { rank: number }>('zones', { organizationId: ORG }, { orderBy: 'rank' })).map((z) => z.rank)).toEqual([0, 1, 4, 5, 9, 20]);
        expect(await a.readStore.loadCheckpoint('p')).toBe('9');
        // No snapshot is open any more: nothing kept remains.
        expect(await a.readStore.database.collection('rm_zones__kept').countDocuments({})).toBe(0);
        expect(await a.readStore.database.collection('curbmap_checkpoints__kept').countDocuments({})).toBe(0);
      } finally {
        await b.readStore.close();
        await a.close();
      }
    });

    it('finds a document a writer moves to the kept versions between a snapshot\'s two reads', async () => {
      const a = await openStore();
      const b = await openStore(a.url);
      try {
        // Another process's batch runs exactly between the snapshot's read of current versions and of kept ones.
        let between: (() => Promise<void>) | null = null;
        const db = a.readStore.database;
        const collection = db.collection.bind(db);
        db.collection = ((name: string) => {
          const c = collection(name);
          const find = c.find.bind(c);
          c.find = ((filter: object, options?: object) => {
            const cursor = find(filter, options);
            const json = JSON.stringify(filter);
            if (name === 'rm_zones' && json.includes('"_s"') && !json.includes('_until')) {
              const toArray = cursor.toArray.bind(cursor);
              cursor.toArray = async () => {
                const run = between;
                between = null;
                await run?.();
                return toArray();
              };
            }
            return cursor;
          }) as typeof c.find;
          return c;
        }) as typeof db.collection;
        await a.readStore.transaction(async (tx) => {
          for (let i = 0; i < 5; i++) await tx.put('zones', { id: `z${i}`, organizationId: ORG, rank: i });
        });
        const rewrite = (rank: number) => async () => {
          await b.readStore.transaction(async (tx) => {
            await tx.put('zones', { id: 'z2', organizationId: ORG, rank });
            await tx.delete('zones', 'z4');
          });
        };
        const seen = await a.readStore.snapshot(async (reader) => {
          between = rewrite(20);
          const page = await reader.findPage<Document & { rank: number }>('zones', { organizationId: ORG }, { limit: 10 });
          between = rewrite(30);
          const count = await reader.count('zones', { organizationId: ORG });
          return { ranks: page.items.map((z) => z.rank), count };
        });
        expect(seen).toEqual({ ranks: [0, 1, 2, 3, 4], count: 5 });
      } finally {
        await b.readStore.close();
        await a.close();
      }
    });

    it('never loses or doubles a document in a snapshot while another process rewrites every document, batch after batch', async () => {
      const a = await openStore();
      const b = await openStore(a.url);
      const ids = Array.from({ length: 40 }, (_, i) => `z${String(i).padStart(2, '0')}`);
      try {
        await a.readStore.transaction(async (tx) => {
          for (const id of ids) await tx.put('zones', { id, organizationId: ORG, rank: 0 });
        });
        // Three writers, each on documents of its own (as projections own theirs): one rewrites its twenty in every
        // batch, two rewrite one of their ten per batch.
        let writing = true;
        const writers = [
          (async () => {
            for (let round = 1; writing; round++) {
              await b.readStore.transaction(async (tx) => {
                for (const id of ids.slice(0, 20)) await tx.put('zones', { id, organizationId: ORG, rank: round });
              });
            }
          })(),
          ...[20, 30].map((first) =>
            (async () => {
              for (let n = 0; writing; n++) {
                const id = ids[first + (n % 10)]!;
                await b.readStore.transaction(async (tx) => tx.put('zones', { id, organizationId: ORG, rank: -n }));
              }
            })(),
          ),
        ];
        try {
          for (let i = 0; i < 10; i++) {
            const seen = await a.readStore.snapshot(async (reader) => {
              const got: { id: string; rank: number }[] = [];
              let after: string | null = null;
              do {
                const page: Page<Document & { rank: number }> = await reader.findPage<Document & { rank: number }>('zones', { organizationId: ORG }, { limit: 7, after });
                got.push(...page.items.map((z) => ({ id: z.id, rank: z.rank })));
                after = page.next;
              } while (after);
              return { got, count: await reader.count('zones', { organizationId: ORG }) };
            });
            expect(seen.got.map((z) => z.id)).toEqual(ids);
            expect(seen.count).toBe(ids.length);
            // Consistent: the twenty rewritten together show one round, never parts of two.
            expect(new Set(seen.got.slice(0, 20).map((z) => z.rank)).size).toBe(1);
          }
        } finally {
          writing = false;
          await Promise.all(writers);
        }
      } finally {
        await b.readStore.close();
        await a.close();
      }
    }, 60_000);

    it('waits, before a snapshot reads, for a batch numbered before it that is still being written', async () => {
      const { readStore, close } = await openStore();
      try {
        const batches = readStore.database.collection<{ _id: number; writing: boolean; at: number }>('curbmap_batches');
        // Another process's batch has its number and is writing.
        await batches.insertOne({ _id: 1, writing: true, at: Date.now() });
        let finished = false;
        setTimeout(() => {
          finished = true;
          void batches.updateOne({ _id: 1 }, { $set: { writing: false } });
        }, 300);
        const sawFinished = await readStore.snapshot(async () => finished);
        expect(sawFinished).toBe(true);
        // A writer that died (its mark older than the lease) is not waited for.
        await batches.insertOne({ _id: 2, writing: true, at: Date.now() - 120_000 });
        const startedAt = Date.now();
        await readStore.snapshot(async () => undefined);
        expect(Date.now() - startedAt).toBeLessThan(5_000);
      } finally {
        await close();
      }
    });

    it('numbers concurrent batches of several processes uniquely, and leaves none marked as being written', async () => {
      const a = await openStore();
      const b = await openStore(a.url);
      try {
        const writes = Array.from({ length: 30 }, (_, i) =>
          (i % 2 ? a : b).readStore.transaction(async (tx) => {
            await tx.put(`c${i % 3}`, { id: `d${i}`, organizationId: ORG, i });
            await tx.saveCheckpoint(`p${i}`, String(i));
          }),
        );
        await Promise.all(writes);
        const batches = await a.readStore.database.collection<{ _id: number; writing: boolean }>('curbmap_batches').find({}).toArray();
        expect(batches.map((x) => x._id).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
        expect(batches.filter((x) => x.writing)).toEqual([]);
        for (let i = 0; i < 30; i++) expect(await b.readStore.loadCheckpoint(`p${i}`)).toBe(String(i));
      } finally {
        await b.readStore.close();
        await a.close();
      }
    });
  });
}
