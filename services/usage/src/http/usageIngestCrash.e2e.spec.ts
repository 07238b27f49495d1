import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-usage-crash-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const main = fileURLToPath(new URL('../../../gateway/src/main.ts', import.meta.url));
const ADMIN = 'usage-crash-admin-token-0123456789';

/** The platform in its own process, as `make up` runs it. */
function start(): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', main], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', CURBMAP_DATA_DIR: dataDir, CURBMAP_ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /CurbMap is running at (\S+)/.exec(err);
      if (m) resolve({ child, base: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
}

describe('usage ingestion killed with SIGKILL', () => {
  it('loses nothing it acknowledged, and counts nothing twice after the restart', async () => {
    const first = await start();
    const json = async (base: string, path: string, init: { method?: string; token: string; body?: unknown }) => {
      const res = await fetch(`${base}${path}`, { method: init.method ?? 'GET', headers: { authorization: `Bearer ${init.token}`, 'content-type': 'application/json' }, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const org = (await json(first.base, '/v1/organizations', { method: 'POST', token: ADMIN, body: { name: 'Crash City', billingEmail: 'ap@crash.example' } })).body as { apiKey: string };
    const project = (await json(first.base, '/v1/projects', { method: 'POST', token: org.apiKey, body: { name: 'P' } })).body['id'] as string;
    await json(first.base, '/v1/meters', { method: 'POST', token: org.apiKey, body: { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' } });

    const batch = (n: number) => Array.from({ length: 50 }, (_, i) => ({ id: `b${n}-${i}`, type: 'hit', projectId: project, data: {} }));
    const acknowledged: number[] = [];
    let n = 0;
    const sending = (async () => {
      for (;;) {
        const sent = n++;
        const res = await json(first.base, '/v1/usage/events', { method: 'POST', token: org.apiKey, body: batch(sent) }).catch(() => null);
        if (!res) return; // the process died under this request: not acknowledged
        if (res.status === 200 && res.body['accepted'] === 50) acknowledged.push(sent);
      }
    })();
    while (acknowledged.length < 20) await new Promise((r) => setTimeout(r, 5));
    first.child.kill('SIGKILL');
    await sending;

    const second = await start();
    try {
      // Every acknowledged batch is there: sending it again finds only duplicates.
      for (const b of acknowledged) {
        const again = await json(second.base, '/v1/usage/events', { method: 'POST', token: org.apiKey, body: batch(b) });
        expect(again.body['accepted'], `batch ${b}`).toBe(0);
      }
      let total = 0;
      for (let i = 0; i < 100; i++) {
        const [from, to] = [new Date(Date.now() - 86_400_000).toISOString(), new Date(Date.now() + 86_400_000).toISOString()];
        total = (await json(second.base, `/v1/usage/summary?meter=hits&from=${from}&to=${to}&window=month`, { token: org.apiKey })).body['total'] as number;
        if (total >= acknowledged.length * 50) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // The batch in flight when the process died may or may not have been committed, never half of it.
      expect(total % 50).toBe(0);
      expect(total).toBeGreaterThanOrEqual(acknowledged.length * 50);
      expect(total).toBeLessThanOrEqual((acknowledged.length + 1) * 50);
    } finally {
      second.child.kill('SIGINT');
      await new Promise((r) => second.child.once('exit', r));
    }
  }, 60_000);
});
