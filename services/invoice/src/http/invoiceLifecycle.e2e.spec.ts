import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
let clock: Date;
beforeEach(async () => {
  clock = new Date('2027-03-10T15:30:00Z');
  p = await startTestPlatform({ now: () => clock });
});
afterEach(() => p.close());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
function problem(res: LightMyRequestResponse, status: number, detail?: RegExp) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  if (detail) expect(res.json().detail).toMatch(detail);
}

async function subscribed(name: string) {
  const org = await p.createOrganization(name, { timeZone: 'America/Chicago' });
  const key = { authorization: `Bearer ${org.apiKey}` };
  expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: key, payload: { planId: 'city', seats: 1 } })).statusCode).toBe(201);
  await p.settle();
  const [invoice] = (await p.app.inject({ url: '/v1/invoices', headers: key })).json().data as { id: string; total: number; dueAt: string }[];
  const call = (method: 'GET' | 'POST', url: string, payload?: object, headers: Record<string, string> = key) => p.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const pay = (amount: number, reference: string) => call('POST', `/v1/admin/invoices/${invoice!.id}/payments`, { amount, currency: 'USD', reference, receivedAt: clock.toISOString() }, admin);
  return { org, key, invoice: invoice!, call, pay };
}

describe('invoice corrections by the operator', () => {
  it('voids an invoice nothing was paid on: nothing is owed, no payment is taken, its due date holds no subscription past due', async () => {
    const { invoice, call, pay } = await subscribed('Springfield');
    problem(await call('POST', `/v1/admin/invoices/${invoice.id}/void`, { reason: 'issued in error' }), 401);
    const voided = await call('POST', `/v1/admin/invoices/${invoice.id}/void`, { reason: 'issued in error' }, admin);
    expect(voided.statusCode, voided.body).toBe(200);
    expect(voided.json()).toMatchObject({ status: 'void', statusReason: 'issued in error', amountRemaining: 0 });
    await p.settle();
    problem(await pay(invoice.total, 'WIRE-1'), 409, /void/);
    expect((await call('POST', `/v1/admin/invoices/${invoice.id}/void`, { reason: 'again' }, admin)).json().status).toBe('void');
    clock = new Date(Date.parse(invoice.dueAt) + 1000);
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ pastDue: 0 });
    expect((await call('GET', '/v1/subscription')).json().status).toBe('active');
  });

  it('never voids what was paid on (a credit note corrects it)', async () => {
    const { invoice, call, pay } = await subscribed('Shelbyville');
    expect((await pay(100_000, 'WIRE-1')).statusCode).toBe(201);
    await p.settle();
    problem(await call('POST', `/v1/admin/invoices/${invoice.id}/void`, { reason: 'too late' }, admin), 409, /credit note/);
    expect((await call('GET', `/v1/invoices/${invoice.id}`)).json()).toMatchObject({ status: 'partially_paid' });
  });

  it('marks an overdue invoice uncollectible: the subscription is no longer past due, and a late payment still settles it', async () => {
    const { invoice, call, pay } = await subscribed('Capital City');
    clock = new Date(Date.parse(invoice.dueAt) + 1000);
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ pastDue: 1 });
    expect((await call('GET', '/v1/subscription')).json().status).toBe('past_due');
    const marked = await call('POST', `/v1/admin/invoices/${invoice.id}/mark-uncollectible`, { reason: 'agency dissolved' }, admin);
    expect(marked.json()).toMatchObject({ status: 'uncollectible', statusReason: 'agency dissolved' });
    await p.settle();
    expect((await call('GET', '/v1/subscription')).json().status).toBe('active');
    clock = new Date(clock.getTime() + 86_400_000);
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ pastDue: 0 });
    problem(await call('POST', `/v1/admin/invoices/${invoice.id}/void`, { reason: 'x' }, admin), 409);
    expect((await pay(invoice.total, 'WIRE-LATE')).statusCode).toBe(201);
    await p.settle();
    expect((await call('GET', `/v1/invoices/${invoice.id}`)).json()).toMatchObject({ status: 'paid', amountRemaining: 0 });
    // Marking it again changes nothing; an invoice paid in full cannot be marked uncollectible.
    expect((await call('POST', `/v1/admin/invoices/${invoice.id}/mark-uncollectible`, { reason: 'x' }, admin)).json().status).toBe('paid');
    // Part of that payment returned: the invoice is owed again, and it is still written off (not partly paid).
    const [payment] = (await call('GET', '/v1/payments')).json().data as { id: string }[];
    const refund = await call('POST', `/v1/admin/payments/${payment!.id}/refunds`, { reference: 'RF-1', refundedAt: clock.toISOString(), amount: 1_000 }, admin);
    expect(refund.statusCode, refund.body).toBe(201);
    await p.settle();
    expect((await call('GET', `/v1/invoices/${invoice.id}`)).json()).toMatchObject({ status: 'uncollectible', amountRemaining: 1_000 });
    const other = await subscribed('Ogdenville');
    expect((await other.pay(other.invoice.total, 'WIRE-9')).statusCode).toBe(201);
    await p.settle();
    problem(await other.call('POST', `/v1/admin/invoices/${other.invoice.id}/mark-uncollectible`, { reason: 'x' }, admin), 409, /paid in full/);
    problem(await call('POST', '/v1/admin/invoices/00000000-0000-4000-8000-000000000000/void', { reason: 'x' }, admin), 404);
  });
});

describe('credit notes', () => {
  it('lower what an open invoice asks, return what a paid one received beyond its new amount as credit, and are numbered per invoice', async () => {
    const { invoice, call, pay, key } = await subscribed('Springfield');
    const credit = (amount: number, reason: string, headers: Record<string, string> = admin) => p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice.id}/credit-notes`, headers, payload: { amount, reason } });
    problem(await credit(60_000, 'discount', key), 401);
    const first = await credit(60_000, 'negotiated discount', { ...admin, 'idempotency-key': 'cn-1' });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({ number: 'CM-2027-000001-CN01', amount: 60_000, reason: 'negotiated discount' });
    // Retried with its key: the same note, not a second one.
    expect((await credit(60_000, 'negotiated discount', { ...admin, 'idempotency-key': 'cn-1' })).json().id).toBe(first.json().id);
    await p.settle();
    expect((await call('GET', `/v1/invoices/${invoice.id}`)).json()).toMatchObject({ status: 'open', amountCredited: 60_000, amountRemaining: invoice.total - 60_000 });
    expect((await pay(invoice.total - 60_000, 'WIRE-1')).statusCode).toBe(201);
    await p.settle();
    expect((await call('GET', `/v1/invoices/${invoice.id}`)).json()).toMatchObject({ status: 'paid', amountRemaining: 0 });

    // Credited after payment: the organization gets the difference back as credit.
    const second = await credit(50_000, 'seat removed');
    expect(second.json()).toMatchObject({ number: 'CM-2027-000001-CN02' });
    await p.settle();
    expect((await call('GET', '/v1/credit-balance')).json().balances).toEqual({ USD: 50_000 });
    problem(await credit(invoice.total - 110_000 + 1, 'too much'), 422, /1 to 250000/);
    expect((await call('GET', `/v1/invoices/${invoice.id}/credit-notes`)).json().data.map((n: { number: string }) => n.number)).toEqual(['CM-2027-000001-CN01', 'CM-2027-000001-CN02']);
  });

  it('are not issued on a void invoice, and a credited invoice is not voided', async () => {
    const a = await subscribed('Shelbyville');
    expect((await a.call('POST', `/v1/admin/invoices/${a.invoice.id}/void`, { reason: 'error' }, admin)).statusCode).toBe(200);
    problem(await a.call('POST', `/v1/admin/invoices/${a.invoice.id}/credit-notes`, { amount: 1_000, reason: 'x' }, admin), 409, /void/);
    const b = await subscribed('Ogdenville');
    expect((await b.call('POST', `/v1/admin/invoices/${b.invoice.id}/credit-notes`, { amount: 1_000, reason: 'x' }, admin)).statusCode).toBe(201);
    problem(await b.call('POST', `/v1/admin/invoices/${b.invoice.id}/void`, { reason: 'error' }, admin), 409, /credit/);
  });
});
