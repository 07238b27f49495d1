import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { defaultPlans } from '@curbmap/contracts';

let p: TestPlatform;
let dir: string;
let clock: Date;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'curbmap-plans-'));
  // An operator's catalogue where a higher tier costs less per seat: an upgrade's proration credit exceeds its charge.
  const plans = [defaultPlans[0]!, { ...defaultPlans[1]!, id: 'city-lite', name: 'City Lite', tier: 5, seatPrices: { USD: 60_000 } }];
  writeFileSync(join(dir, 'plans.json'), JSON.stringify(plans));
  clock = new Date('2027-03-10T15:30:00Z');
  p = await startTestPlatform({ now: () => clock, modules: { plansFile: join(dir, 'plans.json') } });
});
afterEach(async () => {
  await p.close();
  rmSync(dir, { recursive: true, force: true });
});

it('an invoice with a negative total is owed nothing, and its amount becomes the customer\'s credit', async () => {
  const org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
  const headers = { authorization: `Bearer ${org.apiKey}` };
  expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers, payload: { planId: 'starter', seats: 2 } })).statusCode).toBe(201);
  await p.settle();
  const [annual] = (await p.app.inject({ method: 'GET', url: '/v1/invoices', headers })).json().data;
  const paid = await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${annual.id}/payments`, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, payload: { amount: annual.total, currency: 'USD', reference: 'W-1', receivedAt: '2027-03-11T00:00:00Z' } });
  expect(paid.statusCode, paid.body).toBe(201);
  await p.settle();

  clock = new Date('2027-09-10T15:30:00Z');
  const upgraded = await p.app.inject({ method: 'PATCH', url: '/v1/subscription', headers, payload: { planId: 'city-lite' } });
  expect(upgraded.statusCode, upgraded.body).toBe(200);
  await p.settle();
  const proration = (await p.app.inject({ method: 'GET', url: '/v1/invoices', headers })).json().data.find((i: { id: string }) => i.id !== annual.id);
  expect(proration.total).toBeLessThan(0);
  expect(proration).toMatchObject({ amountDue: 0, amountRemaining: 0, status: 'paid' });
  // Cash in (the annual invoice) = applied (annual − what the proration gave back) + credit: nothing dropped.
  expect((await p.app.inject({ method: 'GET', url: '/v1/credit-balance', headers })).json().balances).toEqual({ USD: -proration.total });
  // Redelivered, the invoice grants nothing twice.
  await p.settle();
  expect((await p.app.inject({ method: 'GET', url: '/v1/credit-balance', headers })).json().balances).toEqual({ USD: -proration.total });
});
