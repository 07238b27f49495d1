import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { prorate } from '../domain/subscription/proration.ts';

let p: TestPlatform;
let clock: Date;
let owner: string;
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

function problem(res: LightMyRequestResponse, status: number, detail?: RegExp) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  if (detail) expect(res.json().detail).toMatch(detail);
}

beforeEach(async () => {
  clock = new Date('2027-03-10T15:30:00Z');
  p = await startTestPlatform({ now: () => clock });
  owner = (await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' })).apiKey;
});
afterEach(() => p.close());

const call = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: Record<string, unknown>, key = owner): Promise<LightMyRequestResponse> =>
  p.app.inject({ method, url, headers: auth(key), ...(payload === undefined ? {} : { payload }) });
const invoices = async () => (await call('GET', '/v1/invoices')).json().data as { id: string; total: number; status: string; amountRemaining: number; dueAt: string; lines: { amount: number }[] }[];
const tick = () => p.modules.billing.scheduler!.tick(clock);

describe('billing lifecycle over HTTP (manual collection)', () => {
  it('subscribes, prorates, invoices, takes bank transfers, goes past due, recovers, renews and cancels', async () => {
    expect((await call('GET', '/v1/plans')).json().data.map((x: { id: string }) => x.id)).toEqual(['starter', 'city', 'enterprise']);
    problem(await call('GET', '/v1/subscription'), 404);
    const member = (await call('POST', '/v1/api-keys', { name: 'm', role: 'member' })).json().key;
    const before = await p.eventCount();
    problem(await call('POST', '/v1/subscription', { planId: 'city', seats: 3, collectionMethod: 'send_invoice' }, member), 403);
    problem(await call('POST', '/v1/subscription', { planId: 'city', seats: 3, collectionMethod: 'charge_automatically' }), 422, /payment terms allow send_invoice/);
    problem(await call('POST', '/v1/subscription', { planId: 'city', seats: 3, collectionMethod: 'send_invoice', daysUntilDue: 90 }), 400, /daysUntilDue/);
    problem(await call('POST', '/v1/subscription', { planId: 'platinum', seats: 3, collectionMethod: 'send_invoice' }), 422, /unknown plan/);
    problem(await call('POST', '/v1/subscription', { planId: 'city', seats: 0, collectionMethod: 'send_invoice' }), 400);
    expect(await p.eventCount()).toBe(before); // refused requests wrote nothing

    // Subscribe: the year runs from local midnight in Chicago.
    const created = await call('POST', '/v1/subscription', { planId: 'city', seats: 3, poNumber: 'PO-7781' });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ status: 'active', planId: 'city', seats: 3, currency: 'USD', unitAmount: 360_000, annualAmount: 1_080_000, poNumber: 'PO-7781', currentPeriodStart: '2027-03-10T06:00:00.000Z', currentPeriodEnd: '2028-03-10T06:00:00.000Z', provider: 'manual' });
    problem(await call('POST', '/v1/subscription', { planId: 'city', seats: 3, collectionMethod: 'send_invoice' }), 409, /already has a subscription/);
    await p.settle();
    const all = await invoices();
    expect(all).toHaveLength(1);
    const first = all[0];
    // Due 30 days after the issue date, at the end of that day in Chicago (CDT by then).
    expect(first).toMatchObject({ total: 1_080_000, status: 'open', dueAt: '2027-04-10T04:59:59.999Z' });

    // Seat increase mid-period: prorated now, invoiced at once.
    clock = new Date('2027-09-08T18:00:00Z');
    const up = await call('PATCH', '/v1/subscription', { seats: 5 });
    expect(up.statusCode, up.body).toBe(200);
    const period = { start: '2027-03-10T06:00:00.000Z', end: '2028-03-10T06:00:00.000Z' };
    const expected = prorate(1_800_000, period, clock.toISOString()) - prorate(1_080_000, period, clock.toISOString());
    expect(up.json().change).toMatchObject({ effective: 'now', amount: expected });
    expect(up.json().subscription.seats).toBe(5);
    await p.settle();
    const second = (await invoices()).find((i) => i.total === expected)!;
    expect(second, 'the proration invoice').toBeDefined();
    expect(second.lines.map((l) => l.amount)).toEqual(up.json().change.lines.map((l: { amount: number }) => l.amount));

    // Seat decrease: at renewal.
    const down = await call('PATCH', '/v1/subscription', { seats: 4 });
    expect(down.json()).toMatchObject({ change: { effective: 'renewal', amount: 0, effectiveAt: period.end }, subscription: { seats: 5, pendingChange: { seats: 4 } } });
    problem(await call('PATCH', '/v1/subscription', {}), 400);

    // Bank transfers: under-payment, wrong currency, duplicate reference, over-payment.
    const pay = (invoiceId: string, amount: number, reference: string, currency = 'USD') =>
      p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoiceId}/payments`, headers: auth(TEST_ADMIN_TOKEN), payload: { amount, currency, reference, receivedAt: '2027-04-01T10:00:00Z' } });
    const partial = await pay(first!.id, 500_000, 'WIRE-1');
    expect(partial.statusCode, partial.body).toBe(201);
    expect(partial.json()).toMatchObject({ amount: 500_000, appliedAmount: 500_000, excessAmount: 0, amountRemaining: 580_000, method: 'bank_transfer' });
    problem(await pay(first!.id, 100, 'WIRE-X', 'EUR'), 422, /USD/);
    problem(await pay(first!.id, 100, 'WIRE-1'), 409, /already recorded/);
    const over = await pay(first!.id, 600_000, 'WIRE-2');
    expect(over.json()).toMatchObject({ appliedAmount: 580_000, excessAmount: 20_000, amountRemaining: 0 });
    await p.settle();
    expect((await invoices()).find((i) => i.id === first!.id)?.status).toBe('paid');
    // The excess became credit, which settled part of the other open invoice (the proration) at once.
    expect((await call('GET', '/v1/credit-balance')).json().balances.USD).toBe(0);
    expect((await invoices()).find((i) => i.id === second.id)).toMatchObject({ status: 'partially_paid', amountRemaining: expected - 20_000 });
    problem(await pay(first!.id, 1, 'WIRE-3'), 409, /already paid/);
    problem(await pay('00000000-0000-4000-8000-000000000000', 1, 'WIRE-4'), 404);

    // The rest of the proration invoice goes unpaid past its due date.
    clock = new Date(Date.parse(second.dueAt) + 1000);
    expect(await tick()).toMatchObject({ pastDue: 1 });
    expect((await call('GET', '/v1/subscription')).json().status).toBe('past_due');
    problem(await call('PATCH', '/v1/subscription', { seats: 9 }), 409, /past_due/);
    expect(await tick()).toMatchObject({ pastDue: 0 });
    expect((await pay(second.id, expected - 20_000, 'WIRE-5')).statusCode).toBe(201);
    await p.settle();
    expect((await call('GET', '/v1/subscription')).json().status).toBe('active'); // recovered

    // Cancel at period end, change of mind.
    expect((await call('POST', '/v1/subscription/cancel', { atPeriodEnd: true })).json().cancelAtPeriodEnd).toBe(true);
    expect((await call('POST', '/v1/subscription/reactivate')).json().cancelAtPeriodEnd).toBe(false);

    // Renewal at local midnight a year on, with the seat decrease applied.
    clock = new Date('2028-03-10T05:59:59Z');
    expect(await tick()).toMatchObject({ renewed: 0 });
    clock = new Date('2028-03-10T06:00:00Z');
    expect(await tick()).toMatchObject({ renewed: 1 });
    expect((await call('GET', '/v1/subscription')).json()).toMatchObject({ seats: 4, currentPeriodStart: '2028-03-10T06:00:00.000Z', currentPeriodEnd: '2029-03-10T06:00:00.000Z', pendingChange: null });
    // The over-payment's credit went to the proration invoice; the renewal invoice is owed in full.
    await p.settle();
    const renewal = (await invoices()).find((i) => i.total === 4 * 360_000)!;
    expect(renewal).toMatchObject({ amountRemaining: 4 * 360_000, status: 'open' });
    const creditPayment = (await call('GET', '/v1/payments')).json().data.find((x: { method: string }) => x.method === 'credit_balance');
    expect(creditPayment).toMatchObject({ invoiceId: second.id, amount: 20_000, appliedAmount: 20_000 });
    expect(await tick()).toMatchObject({ renewed: 0 });

    // Cancel at period end: the next renewal ends it.
    await call('POST', '/v1/subscription/cancel', { atPeriodEnd: true });
    clock = new Date('2029-03-10T06:00:00Z');
    await tick();
    expect((await call('GET', '/v1/subscription')).json().status).toBe('canceled');
    problem(await call('POST', '/v1/subscription/reactivate'), 409, /canceled/);
  });

  it('keeps one organization out of another one\'s billing', async () => {
    await call('POST', '/v1/subscription', { planId: 'starter', seats: 1, collectionMethod: 'send_invoice' });
    await p.settle();
    const [invoice] = await invoices();
    expect(invoice).toBeDefined();
    const other = (await p.createOrganization('Shelbyville')).apiKey;
    problem(await call('GET', '/v1/subscription', undefined, other), 404);
    expect((await call('GET', '/v1/invoices', undefined, other)).json().data).toEqual([]);
    problem(await call('GET', `/v1/invoices/${invoice!.id}`, undefined, other), 404);
    problem(await call('POST', `/v1/invoices/${invoice!.id}/remittance-advice`, { amount: 1, reference: 'x', sentAt: '2027-04-01T00:00:00Z' }, other), 404);
  });

  it('keeps organization-wide billing away from project-restricted keys', async () => {
    const project = (await call('POST', '/v1/projects', { name: 'Harbour' })).json();
    const scoped = (await call('POST', '/v1/api-keys', { name: 'harbour admin', role: 'billing_admin', projectId: project.id })).json().key;
    problem(await call('POST', '/v1/subscription', { planId: 'city', seats: 1, collectionMethod: 'send_invoice' }, scoped), 403, /restricted to one project/);
    expect((await call('GET', '/v1/plans', undefined, scoped)).statusCode).toBe(200);
  });

  it('refuses card features with manual collection', async () => {
    problem(await call('POST', '/v1/payment-methods/setup-intent'), 409, /Stripe/);
  });
});
