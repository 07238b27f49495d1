import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/infra';
import { openStorage } from './storage.ts';

// A real PostgreSQL (a private cluster): what a start that fails halfway leaves connected is seen from the server.
const unavailable = postgresUnavailable();
let cluster: PrivateCluster | undefined;
afterAll(() => cluster?.stop());

describe('opening the storage', () => {
  if (unavailable) {
    it.skip(`skipped: ${unavailable}`, () => {});
    return;
  }

  it('closes what it opened when a later part fails to open: no connection is left to keep the process alive', async () => {
    cluster = await startPrivateCluster();
    const db = await createDatabase(cluster.url);
    const observer = new pg.Client({ connectionString: db.url });
    await observer.connect();
    const dataDir = mkdtempSync(join(tmpdir(), 'storage-'));
    try {
      // The event store opens; the read store cannot make its checkpoints table (a type of that name is in the way).
      await observer.query('CREATE TYPE checkpoints AS (x int)');
      await expect(openStorage(dataDir, [], pino({ level: 'silent' }), { databaseUrl: db.url })).rejects.toThrow(/checkpoints/);
      // A pool's end does not wait for its backends to go: polled (a pool left open keeps its connection).
      const others = async () => (await observer.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows[0]!.n;
      await expect.poll(others, { timeout: 3_000 }).toBe(0);
    } finally {
      await observer.end();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
