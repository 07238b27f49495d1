import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

/**
 * What a key restricted to one project may read, on every route: its project's data, never the organization's
 * money, billing, webhooks or organization-wide usage (multi-tenant.md, "Project-restricted keys").
 */
let p: TestPlatform;
let owner: string;
let restricted: string;
let project: string;
let invoiceId: string;
let endpointId: string;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

beforeAll(async () => {
  p = await startTestPlatform({ modules: { webhookAllowPrivateNetworks: true } });
  const org = await p.createOrganization('City of Springfield', { currency: 'USD' });
  owner = org.apiKey;
  project = (await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(owner), payload: { name: 'Downtown' } })).json().id;
  restricted = (await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(owner), payload: { name: 'field team', role: 'owner', projectId: project } })).json().key;
  expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: bearer(owner), payload: { planId: 'city', seats: 1 } })).statusCode).toBe(201);
  endpointId = (await p.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: bearer(owner), payload: { url: 'http://127.0.0.1:9/hooks', events: ['invoice.issued'] } })).json().id;
  await p.settle();
  invoiceId = (await p.app.inject({ url: '/v1/invoices', headers: bearer(owner) })).json().data[0].id;
});
afterAll(() => p.close());

describe('a project-restricted key', () => {
  it('reads none of the organization\'s money, billing, webhooks or organization-wide usage (403), which an organization-wide key reads', async () => {
    const organizationWide = [
      '/v1/invoices', `/v1/invoices/${invoiceId}`, `/v1/invoices/${invoiceId}/credit-notes`, `/v1/invoices/${invoiceId}/html`,
      `/v1/invoices/${invoiceId}/pdf`, '/v1/payments', '/v1/credit-balance', '/v1/billing-terms', '/v1/organization/tax-settings', '/v1/organization/dunning', '/v1/invoice-template', '/v1/invoice-template/preview',
      '/v1/webhook-endpoints', `/v1/webhook-endpoints/${endpointId}`, `/v1/webhook-endpoints/${endpointId}/deliveries`,
      '/v1/usage/quotas', '/v1/usage/periods',
    ];
    for (const url of organizationWide) {
      const refused = await p.app.inject({ url, headers: bearer(restricted) });
      expect(refused.statusCode, url).toBe(403);
      expect(refused.headers['content-type'], url).toMatch(/application\/problem\+json/);
      expect(refused.json().detail, url).toMatch(/restricted to one project cannot read/);
      expect((await p.app.inject({ url, headers: bearer(owner) })).statusCode, url).toBe(200);
    }
  });

  it('reads its project and the plan the organization is on', async () => {
    for (const url of ['/v1/subscription', '/v1/plans', `/v1/projects/${project}`, `/v1/usage/summary?meter=api_requests&from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`, '/cds/1.1/curbs/zones', '/v1/exports']) {
      expect((await p.app.inject({ url, headers: bearer(restricted) })).statusCode, url).toBe(200);
    }
  });

  it('exports invoices and payments only with an organization-wide key and no project: the export agrees with the list', async () => {
    // What was written besides the platform's own measurement of these requests.
    const exportEvents = async () => {
      await p.settle();
      let n = 0;
      for await (const e of p.ctx.store.readAll()) if (e.type.startsWith('export.')) n++;
      return n;
    };
    const before = await exportEvents();
    for (const dataset of ['invoices', 'payments']) {
      const refused = await p.app.inject({ method: 'POST', url: '/v1/exports', headers: bearer(restricted), payload: { dataset, format: 'csv' } });
      expect(refused.statusCode, dataset).toBe(403);
      const withProject = await p.app.inject({ method: 'POST', url: '/v1/exports', headers: bearer(owner), payload: { dataset, format: 'csv', projectId: project } });
      expect(withProject.statusCode, dataset).toBe(422);
      expect(withProject.json().detail).toMatch(/projectId does not apply/);
      const scheduled = await p.app.inject({ method: 'POST', url: '/v1/export-schedules', headers: bearer(restricted), payload: { cron: '0 6 * * *', timeZone: 'UTC', export: { dataset, format: 'csv' } } });
      expect(scheduled.statusCode, dataset).toBe(403);
    }
    expect(await exportEvents()).toBe(before);
    const started = await p.app.inject({ method: 'POST', url: '/v1/exports', headers: bearer(owner), payload: { dataset: 'invoices', format: 'csv' } });
    expect(started.statusCode).toBe(202);
    await p.modules.export.runner!.idle();
    await p.settle();
    const csv = (await p.app.inject({ url: (await p.app.inject({ url: `/v1/exports/${started.json().id}/download`, headers: bearer(owner) })).headers.location as string })).body;
    const listed = (await p.app.inject({ url: '/v1/invoices', headers: bearer(owner) })).json().data as { id: string }[];
    expect(csv.trim().split('\r\n').slice(1).map((row) => row.split(',')[0]).sort()).toEqual(listed.map((i) => i.id).sort());
  });
});
