import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postgresUnavailable, startPrivateCluster } from './postgres.ts';

const asRoot = process.getuid?.() === 0;
const why = process.env['DATABASE_URL'] ? 'DATABASE_URL is set: no private cluster is started' : (postgresUnavailable() ?? (asRoot ? null : 'not root: the cluster runs as the caller, who can reach its own directory'));

describe.skipIf(why !== null)('a private PostgreSQL cluster as root', () => {
  it('says which directory the postgres user cannot enter, and how to fix it, instead of failing with byte arrays', async () => {
    const closed = mkdtempSync(join(tmpdir(), 'curbmap-closed-'));
    chmodSync(closed, 0o700); // like a home directory: root's only
    try {
      expect(spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', closed]).status).not.toBe(0);
      await expect(startPrivateCluster({ dir: join(closed, 'data-distributed', 'postgres') })).rejects.toThrow(new RegExp(`postgres user, who cannot enter ${closed} .*CURBMAP_DISTRIBUTED_DATA_DIR.*chmod o\\+x ${closed}`));
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
});
