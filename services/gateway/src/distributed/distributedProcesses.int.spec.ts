import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from '@curbmap/testing/kafka';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/testing/postgres';

// Distributed mode for real: the gateway and the usage service as separate processes, PostgreSQL shared, events
// relayed through the Kafka broker. Nothing here is a mock.
const unavailable = postgresUnavailable() ?? kafkaUnavailable();
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const ADMIN = 'distributed-admin-token-0123456789';

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** A process of ours (sources run directly), and the URL its start-up line names. */
function start(entry: string, env: Record<string, string>, announces: RegExp): Promise<Started> {
  const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', join(root, entry)], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start:\n${output}`)), 60_000);
    const watch = (chunk: Buffer) => {
      output += chunk.toString();
      const url = announces.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url, output: () => output });
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code}):\n${output}`));
    });
  });
}

async function stop(p: Started | null): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  await exited;
}

if (unavailable) {
  describe('services in their own processes', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('services in their own processes (PostgreSQL, Kafka)', () => {
    let cluster: PrivateCluster;
    let broker: PrivateBroker;
    let usage: Started | null = null;
    let gateway: Started | null = null;
    const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-distributed-'));
    const secret = randomBytes(32).toString('hex');
    let env: Record<string, string>;

    beforeAll(async () => {
      [cluster, broker] = await Promise.all([startPrivateCluster(), startPrivateBroker()]);
      const databaseUrl = (await createDatabase(cluster.url)).url;
      env = { DATABASE_URL: databaseUrl, KAFKA_BROKERS: broker.brokers.join(','), CURBMAP_INTERNAL_SECRET: secret, CURBMAP_DATA_DIR: dataDir };
      usage = await start('services/usage/src/main.ts', { ...env, PORT: '0' }, /curbmap service listening at (\S+)/);
      gateway = await start('services/gateway/src/main.ts', { ...env, PORT: '0', HOST: '127.0.0.1', CURBMAP_ADMIN_TOKEN: ADMIN, SERVICE_URLS: `usage=${usage.url}` }, /CurbMap is running at (\S+)/);
    }, 180_000);
    afterAll(async () => {
      await stop(gateway);
      await stop(usage);
      await broker?.stop();
      await cluster?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);

    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(new URL(path, gateway!.url), { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: () => JSON.parse(text) as Record<string, unknown> & { total?: number }, text };
    };

    it('usage through the gateway: the usage process applies it from Kafka and answers its routes; a request that skips the gateway is refused', async () => {
      const org = (await call('POST', '/v1/organizations', ADMIN, { name: 'City of Springfield', billingEmail: 'ap@springfield.example', timeZone: 'America/Chicago' })).json() as { id: string; apiKey: string };
      const project = (await call('POST', '/v1/projects', org.apiKey, { name: 'Downtown' })).json().id as string;
      // Forwarded to the usage process; its answer (and its read-your-writes) come from there.
      const meter = await call('POST', '/v1/meters', org.apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' });
      expect(meter.status, meter.text).toBe(201);
      const events = Array.from({ length: 50 }, (_, i) => ({ id: `e${i}`, type: 'hit', projectId: project, data: {} }));
      expect((await call('POST', '/v1/usage/events', org.apiKey, events)).json()).toMatchObject({ accepted: 50, duplicates: [] });
      const again = (await call('POST', '/v1/usage/events', org.apiKey, events)).json() as { accepted: number; duplicates: unknown[] };
      expect([again.accepted, again.duplicates.length]).toEqual([0, 50]);
      const window = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
      await expect.poll(async () => (await call('GET', `/v1/usage/summary?meter=hits&${window}`, org.apiKey)).json().total, { timeout: 30_000, interval: 200 }).toBe(50);

      // Validation, roles and tenancy are the gateway's: a bad body never reaches the service.
      const bad = await call('POST', '/v1/meters', org.apiKey, { key: 'x' });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const other = (await call('POST', '/v1/organizations', ADMIN, { name: 'Shelbyville', billingEmail: 'ap@shelbyville.example' })).json() as { apiKey: string };
      expect((await call('GET', `/v1/usage/summary?meter=hits&${window}`, other.apiKey)).status).toBe(404);

      // The usage process answers only what the gateway signed.
      const direct = await fetch(new URL('/v1/meters', usage!.url), { headers: { authorization: `Bearer ${org.apiKey}` } });
      expect(direct.status).toBe(401);
      expect(((await direct.json()) as { detail: string }).detail).toMatch(/forwarded by the gateway/);
    }, 120_000);

    it('a usage process killed with SIGKILL and started again: nothing acknowledged is lost, nothing counted twice', async () => {
      const org = (await call('POST', '/v1/organizations', ADMIN, { name: 'Capital City', billingEmail: 'ap@capital.example' })).json() as { id: string; apiKey: string };
      const project = (await call('POST', '/v1/projects', org.apiKey, { name: 'Center' })).json().id as string;
      expect((await call('POST', '/v1/meters', org.apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' })).status).toBe(201);
      const batch = (from: number) => Array.from({ length: 100 }, (_, i) => ({ id: `k${from + i}`, type: 'hit', projectId: project, data: {} }));
      for (let b = 0; b < 5; b++) expect((await call('POST', '/v1/usage/events', org.apiKey, batch(b * 100))).status).toBe(200);
      usage!.child.kill('SIGKILL');
      await new Promise((r) => usage!.child.once('exit', r));
      // Meanwhile the gateway answers 503 with Retry-After: a client's retry is safe (its ids make it idempotent).
      const down = await call('POST', '/v1/usage/events', org.apiKey, batch(500));
      expect([down.status, down.headers.get('retry-after'), down.headers.get('content-type')]).toEqual([503, '1', 'application/problem+json']);
      const port = new URL(usage!.url).port;
      usage = await start('services/usage/src/main.ts', { ...env, PORT: port }, /curbmap service listening at (\S+)/);
      for (let b = 5; b < 10; b++) expect((await call('POST', '/v1/usage/events', org.apiKey, batch(b * 100))).status).toBe(200);
      const window = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
      // Its consumer group takes the partitions back once the killed member's session has expired.
      await expect.poll(async () => (await call('GET', `/v1/usage/summary?meter=hits&${window}`, org.apiKey)).json().total, { timeout: 60_000, interval: 500 }).toBe(1000);
    }, 120_000);
  });
}
