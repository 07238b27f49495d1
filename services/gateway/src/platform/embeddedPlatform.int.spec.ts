import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestPlatform } from '@curbmap/gateway/testing';

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'curbmap-restart-'));
  dirs.push(d);
  return d;
};
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe('embedded platform on disk', () => {
  it('keeps every organization, key and projection across a restart', async () => {
    const dir = dataDir();
    const first = await startTestPlatform({ dataDir: dir });
    const { apiKey } = await first.createOrganization('Metro');
    await first.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(apiKey), payload: { name: 'Harbour' } });
    await first.close();

    const second = await startTestPlatform({ dataDir: dir });
    try {
      const projects = await second.app.inject({ url: '/v1/projects', headers: auth(apiKey) });
      expect(projects.statusCode).toBe(200);
      expect(projects.json().data.map((x: { name: string }) => x.name)).toEqual(['Harbour']);
      let tenancy = 0;
      for await (const _ of second.ctx.store.readAll({ filter: { categories: ['organization'] } })) tenancy += 1;
      expect(tenancy).toBe(3);
      // The API request counted before the close was flushed on close, not lost.
      const usage: number[] = [];
      for await (const e of second.ctx.store.readAll({ filter: { types: ['usage.events.recorded'] } })) usage.push((e.data as { items: unknown[] }).items.length);
      expect(usage).toEqual([1]);
    } finally {
      await second.close();
    }
  });

  it('rebuilds a projection from position 0 with the replay command', async () => {
    const dir = dataDir();
    const platform = await startTestPlatform({ dataDir: dir });
    const { apiKey } = await platform.createOrganization('Metro');
    await platform.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(apiKey), payload: { name: 'Harbour' } });
    await platform.close();

    // Lose the read model, as a bad deploy might.
    const db = new DatabaseSync(join(dir, 'curbmap.db'));
    db.exec('DELETE FROM rm_projects; DELETE FROM rm_api_key_lookup');
    db.close();

    const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
    const env = { ...process.env, CURBMAP_DATA_DIR: dir, LOG_LEVEL: 'info' };
    const { stdout } = await run(process.execPath, ['--conditions=source', '--no-warnings', cli, 'replay', 'gateway.tenancy.v1'], { env });
    expect(stdout).toContain('projection rebuilt');
    const unknown = await run(process.execPath, ['--conditions=source', '--no-warnings', cli, 'replay', 'nope'], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown projection') });

    const again = await startTestPlatform({ dataDir: dir });
    try {
      const projects = await again.app.inject({ url: '/v1/projects', headers: auth(apiKey) });
      expect(projects.statusCode).toBe(200);
      expect(projects.json().data.map((x: { name: string }) => x.name)).toEqual(['Harbour']);
    } finally {
      await again.close();
    }
  });
});
