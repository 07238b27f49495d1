import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, start, stop, type Started } from './processes.fixture.ts';

// A service in its own process without DATABASE_URL or KAFKA_BROKERS: the embedded adapters, the data
// directory's SQLite file shared with the gateway's process (no server needed, so this runs everywhere).
describe('a service process on the embedded adapters', () => {
  let dataDir = '';
  let usage: Started | null = null;
  let gateway: Started | null = null;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'curbmap-embedded-processes-'));
    const env = { CURBMAP_DATA_DIR: dataDir, CURBMAP_INTERNAL_SECRET: randomBytes(32).toString('hex') };
    usage = await start('services/usage/src/main.ts', { ...env, PORT: '0' }, /curbmap service listening at (\S+)/);
    gateway = await start('services/gateway/src/main.ts', { ...env, PORT: '0', HOST: '127.0.0.1', CURBMAP_ADMIN_TOKEN: ADMIN, SERVICE_URLS: `usage=${usage.url}` }, /CurbMap is running at (\S+)/);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([stop(gateway), stop(usage)]);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('shares the SQLite file with the gateway: usage sent through the gateway is rolled up by the usage process', async () => {
    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(new URL(path, gateway!.url), { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const org = (await call('POST', '/v1/organizations', ADMIN, { name: 'Springfield', billingEmail: 'ap@springfield.example' })).json as { apiKey: string };
    const project = (await call('POST', '/v1/projects', org.apiKey, { name: 'Downtown' })).json['id'] as string;
    expect((await call('POST', '/v1/meters', org.apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' })).status).toBe(201);
    expect((await call('POST', '/v1/usage/events', org.apiKey, Array.from({ length: 20 }, (_, i) => ({ id: `s${i}`, type: 'hit', projectId: project, data: {} })))).json['accepted']).toBe(20);
    const window = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
    await expect.poll(async () => (await call('GET', `/v1/usage/summary?meter=hits&${window}`, org.apiKey)).json['total'], { timeout: 20_000, interval: 200 }).toBe(20);
  }, 60_000);
});
