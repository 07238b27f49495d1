import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedServer } from '@curbmap/testing';
import { createDatabase, postgresUnavailable, startPrivateCluster } from '@curbmap/infra';
import { startTestPlatform, TEST_ADMIN_TOKEN } from '@curbmap/gateway/testing';

// The whole platform with its storage on a real PostgreSQL (DATABASE_URL): only the adapters change.
const unavailable = postgresUnavailable();
const cluster = sharedServer(() => startPrivateCluster());

if (unavailable) {
  describe('the platform on PostgreSQL', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('the platform on PostgreSQL', () => {
    it('subscribes, invoices, meters and exports with PostgreSQL holding events, checkpoints and read models, and keeps them across a restart', async () => {
      const url = (await createDatabase((await cluster()).url)).url;
      const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-pg-platform-'));
      try {
        let p = await startTestPlatform({ databaseUrl: url, dataDir });
        const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
        const key = { authorization: `Bearer ${org.apiKey}` };
        const call = (method: 'GET' | 'POST', path: string, payload?: object) => p.app.inject({ method, url: path, headers: key, ...(payload ? { payload } : {}) });
        const project = (await call('POST', '/v1/projects', { name: 'Downtown' })).json().id as string;
        expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 2 })).statusCode).toBe(201);
        await call('POST', '/v1/meters', { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' });
        const events = Array.from({ length: 5 }, (_, i) => ({ id: `e${i}`, type: 'hit', projectId: project, data: {} }));
        expect((await call('POST', '/v1/usage/events', events)).json().accepted).toBe(5);
        expect((await call('POST', '/v1/usage/events', events)).json().accepted).toBe(0); // deduplicated by the claims table
        await p.settle();
        const [invoice] = (await call('GET', '/v1/invoices')).json().data as { number: string; total: number; status: string }[];
        expect(invoice).toMatchObject({ number: expect.stringMatching(/^CM-\d{4}-000001$/), total: 720_000, status: 'open' });
        const from = new Date(Date.now() - 86_400_000).toISOString();
        const to = new Date(Date.now() + 86_400_000).toISOString();
        expect((await call('GET', `/v1/usage/summary?meter=hits&from=${from}&to=${to}`)).json().total).toBe(5);
        // A void finds the event by its claim's position (PostgreSQL's are `<transaction>/<position>`).
        expect((await call('POST', '/v1/usage/events/e0/void')).statusCode).toBe(200);
        await p.settle();
        expect((await call('GET', `/v1/usage/summary?meter=hits&from=${from}&to=${to}`)).json().total).toBe(4);
        const started = await call('POST', '/v1/exports', { dataset: 'invoices', format: 'csv' });
        expect(started.statusCode).toBe(202);
        await p.modules.export.runner!.idle();
        await p.settle();
        expect((await call('GET', `/v1/exports/${started.json().id}`)).json()).toMatchObject({ status: 'completed', manifest: { rows: 1 } });
        const ready = await p.app.inject({ url: '/readyz' });
        expect(ready.statusCode).toBe(200);
        await p.close();

        // Restarted on the same database: everything is there, nothing is projected twice.
        p = await startTestPlatform({ databaseUrl: url, dataDir });
        await p.settle();
        const again = await p.app.inject({ url: '/v1/invoices', headers: key });
        expect(again.json().data).toHaveLength(1);
        expect((await p.app.inject({ url: `/v1/usage/summary?meter=hits&from=${from}&to=${to}`, headers: key })).json().total).toBe(4);
        expect((await p.app.inject({ url: '/v1/organizations', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).statusCode).toBeLessThan(500);
        await p.close();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 120_000);
  });
}
