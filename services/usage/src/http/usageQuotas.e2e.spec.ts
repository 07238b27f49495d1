import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';
import { randomUUID } from 'node:crypto';
import { API_REQUEST_ITEM_TYPE, type UsageItem } from '@curbmap/contracts';
import { ingestUsage, usageStream } from '../application/usageCommands.ts';
import { quotaStream } from '../application/usageQuotas.ts';

let p: TestPlatform;
const clock = new Date('2027-05-10T12:00:00Z');
beforeEach(async () => {
  p = await startTestPlatform({ now: () => clock });
});
afterEach(() => p.close());

describe('quotas', () => {
  it('measures the plan\'s meters over the subscription year and alerts once at 80 % and at 100 %', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const project = (await p.app.inject({ method: 'POST', url: '/v1/projects', headers, payload: { name: 'P' } })).json().id;
    expect((await p.app.inject({ url: '/v1/usage/quotas', headers })).statusCode).toBe(404);
    expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers, payload: { planId: 'starter', seats: 1 } })).statusCode).toBe(201);
    // A customer cannot report the platform's own usage.
    const spoof = await p.app.inject({ method: 'POST', url: '/v1/usage/events', headers, payload: { id: 'x', type: 'curbmap.export.completed', projectId: project, data: { rows: 1, bytes: 1 } } });
    expect(spoof.statusCode).toBe(422);
    expect(spoof.json().detail).toMatch(/platform's own/);

    let n = 0;
    const exportJobs = async (count: number) => {
      const items = Array.from({ length: count }, () => ({ id: `job-${n++}`, type: 'curbmap.export.completed', projectId: project, data: { rows: 10, bytes: 1000 } }));
      const outcome = await ingestUsage(p.ctx, { commandId: `cmd-${n}`, now: clock.toISOString(), organizationId: org.id }, { items, restrictedTo: null, source: 'platform' });
      expect(outcome.accepted).toHaveLength(count);
      await p.settle();
    };
    const alerts = async () => {
      const out: { threshold: number; use: number }[] = [];
      for await (const e of p.ctx.store.readStream(quotaStream(org.id))) out.push(e.data as { threshold: number; use: number });
      return out.map((a) => [a.threshold, a.use]);
    };
    await exportJobs(399); // the Starter plan includes 500 export jobs
    expect(await alerts()).toEqual([]);
    await exportJobs(1);
    expect(await alerts()).toEqual([[80, 400]]);
    await exportJobs(50);
    expect(await alerts()).toEqual([[80, 400]]);
    await exportJobs(60);
    expect(await alerts()).toEqual([[80, 400], [100, 510]]);
    await exportJobs(5);
    expect(await alerts()).toHaveLength(2);

    const quotas = (await p.app.inject({ url: '/v1/usage/quotas', headers })).json();
    expect(quotas).toMatchObject({ planId: 'starter', periodStart: '2027-05-10T05:00:00.000Z' });
    expect(quotas.meters).toEqual(expect.arrayContaining([{ meter: 'export_jobs', use: 515, included: 500, percentage: 103 }, { meter: 'api_requests', use: 0, included: 1_000_000, percentage: 0 }]));
  });
});

describe('the platform\'s own usage', () => {
  it('counts API requests per key and project, seats from billing and invoices issued', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const project = (await p.app.inject({ method: 'POST', url: '/v1/projects', headers, payload: { name: 'P' } })).json().id;
    const scoped = (await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers, payload: { name: 'field', role: 'read_only', projectId: project } })).json().key;
    expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers, payload: { planId: 'city', seats: 4 } })).statusCode).toBe(201);
    for (let i = 0; i < 3; i++) await p.app.inject({ url: `/v1/projects/${project}`, headers: { authorization: `Bearer ${scoped}` } });
    await p.app.inject({ url: '/v1/organization', headers: { authorization: 'Bearer cmk_unknown' } }); // not an organization's request
    await p.modules.usage.apiRequests!.flush();
    await p.settle();
    const summary = async (meter: string, extra = '') =>
      (await p.app.inject({ url: `/v1/usage/summary?meter=${meter}&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z${extra}`, headers })).json();
    // POST projects, POST api-keys, POST subscription with the owner key; 3 GETs with the project's key.
    const requests = await summary('api_requests', '&groupBy=project');
    expect(requests.total).toBe(6);
    expect(requests.series.map((s: { projectId: string | null; total: number }) => [s.projectId, s.total])).toEqual([[project, 3], [null, 3]].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    expect((await summary('seats')).total).toBe(4);
    expect((await summary('invoices_issued')).total).toBe(1);

    // Requests are tallied per project, key, route, status and second: the three GETs (same second, on the
    // test clock) are one item of 3 requests, not three items with an id each.
    const tallies: UsageItem[] = [];
    for await (const e of p.ctx.store.readStream(usageStream(org.id))) tallies.push(...(e.data as { items: UsageItem[] }).items.filter((i) => i.type === API_REQUEST_ITEM_TYPE));
    expect(tallies.map((t) => [t.projectId, t.data['route'], t.data['requests']])).toEqual(
      expect.arrayContaining([[project, '/v1/projects/:id', 3], [null, '/v1/projects', 1], [null, '/v1/api-keys', 1], [null, '/v1/subscription', 1]]),
    );
    expect(tallies).toHaveLength(4);

    // An item recorded before tallies (schema version 1, no requests property) still counts as one request.
    await p.ctx.store.append(usageStream(org.id), [{ id: randomUUID(), type: 'usage.events.recorded', schemaVersion: 1, data: { items: [{ id: 'legacy-request', type: API_REQUEST_ITEM_TYPE, projectId: project, time: clock.toISOString(), data: { keyId: 'k', route: '/v1/projects/:id', status: 200 } }], timeZone: 'America/Chicago' }, occurredAt: clock.toISOString(), organizationId: org.id }], { expectedVersion: 'any' });
    await p.settle();
    expect((await summary('api_requests')).total).toBe(7);
  });
});
