import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, counted, noted, testRegistry } from '@curbmap/testing';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/testing/postgres';
import { copyLog } from '../copyLog.ts';
import { SqliteDatabase } from '../sqlite/sqliteDatabase.ts';
import { SqliteEventStore } from '../sqlite/sqliteEventStore.ts';
import { PostgresEventStore } from './postgresEventStore.ts';

const unavailable = postgresUnavailable();
let cluster: PrivateCluster | null = null;
afterAll(async () => cluster?.stop());

const shape = (e: { id: string; streamId: string; streamVersion: number; type: string; schemaVersion: number; data: unknown; occurredAt: string; correlationId: string; causationId: string }) => [e.id, e.streamId, e.streamVersion, e.type, e.schemaVersion, e.occurredAt, e.correlationId, e.causationId, JSON.stringify(e.data)];

if (unavailable) {
  describe('copying the embedded log into PostgreSQL', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('copying the embedded log into PostgreSQL', () => {
    it('copies every event in order with its ids, versions and data as stored (an old schema version stays old), and every claim; run again, it changes nothing', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'curbmap-copy-'));
      const database = new SqliteDatabase(join(dir, 'curbmap.db'));
      try {
        // Written when test.counted was at version 1 ({ n }), then more at version 2 ({ count }).
        const old = new SqliteEventStore(database, testRegistry(1));
        await old.append('counter-a', [{ ...counted(0), data: { n: 1 } }], { expectedVersion: 'no_stream' });
        const store = new SqliteEventStore(database, testRegistry());
        for (let i = 0; i < 30; i++) await store.append(`counter-${['a', 'b', 'c'][i % 3]}`, [counted(i), counted(i + 100)], { expectedVersion: 'any', claims: [`usage:org:${i}`] });
        await store.append('notes-x', Array.from({ length: 1200 }, (_, i) => noted(`n${i}`)), { expectedVersion: 'no_stream', claims: ['big-append'] });

        cluster ??= await startPrivateCluster();
        const target = await PostgresEventStore.open((await createDatabase(cluster.url)).url);
        const source = new SqliteEventStore(database); // no registry: events as stored
        const progress: number[] = [];
        expect(await copyLog(source, target, { onProgress: (n) => progress.push(n) })).toEqual({ events: 1 + 60 + 1200, claims: 31 });
        expect(progress.at(-1)).toBe(1261);

        const before = (await collect(source.readAll())).map(shape);
        expect((await collect(target.readAll())).map(shape)).toEqual(before);
        expect([before[0]![3], before[0]![4], before[0]![8]]).toEqual(['test.counted', 1, '{"n":1}']); // version 1 kept as written
        const keys = [...Array.from({ length: 30 }, (_, i) => `usage:org:${i}`), 'big-append'];
        expect([...(await target.claimed(keys)).keys()].sort()).toEqual([...keys].sort());

        // Again (as after a crash halfway): nothing added, nothing refused.
        expect(await copyLog(source, target)).toEqual({ events: 1261, claims: 31 });
        expect((await collect(target.readAll())).map(shape)).toEqual(before);
        await target.close();
      } finally {
        database.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  });
}
