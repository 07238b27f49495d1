import { DateTime } from 'luxon';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { receivableStream } from '../domain/receivable/receivableDecider.ts';

let p: TestPlatform;
let clock: Date;
let org: { id: string; apiKey: string };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const admin = bearer(TEST_ADMIN_TOKEN);

beforeEach(async () => {
  clock = new Date('2027-03-10T15:30:00Z');
  p = await startTestPlatform({ now: () => clock });
  org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
});
afterEach(() => p.close());

function problem(res: LightMyRequestResponse, status: number, detail?: RegExp) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  if (detail) expect(res.json().detail).toMatch(detail);
}
/** Invoices are due at the end of the day in the organization's zone (Chicago here), `days` after issue. */
const endOfLocalDay = (issuedAt: string, days: number) => DateTime.fromISO(issuedAt, { zone: 'America/Chicago' }).plus({ days }).endOf('day').toUTC().toISO();
const customer = (method: 'GET' | 'POST', url: string, payload?: object) => p.app.inject({ method, url, headers: bearer(org.apiKey), ...(payload ? { payload } : {}) });
const operator = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) => p.app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
const invoices = async () => (await customer('GET', '/v1/invoices')).json().data as { id: string; total: number; status: string; amountRemaining: number; dueAt: string; issuedAt: string }[];
const pay = (invoiceId: string, amount: number, reference: string) => operator('POST', `/v1/admin/invoices/${invoiceId}/payments`, { amount, currency: 'usd', reference, receivedAt: '2027-03-20T10:00:00Z' });

async function subscribe(seats = 3) {
  const res = await customer('POST', '/v1/subscription', { planId: 'city', seats });
  expect(res.statusCode, res.body).toBe(201);
  await p.settle();
}

describe('who may move money', () => {
  it('records payments with the admin token only; a customer sends remittance advice, which settles nothing', async () => {
    await subscribe();
    const [invoice] = await invoices();
    const before = await p.eventCount();
    problem(await customer('POST', `/v1/invoices/${invoice!.id}/payments`, { amount: 1, currency: 'USD', reference: 'x', receivedAt: '2027-03-20T10:00:00Z' }), 404);
    problem(await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice!.id}/payments`, headers: bearer(org.apiKey), payload: { amount: 1, currency: 'USD', reference: 'x', receivedAt: '2027-03-20T10:00:00Z' } }), 401);
    expect(await p.eventCount()).toBe(before);

    const advice = await customer('POST', `/v1/invoices/${invoice!.id}/remittance-advice`, { amount: 1_080_000, reference: 'WIRE-77', sentAt: '2027-03-19T09:00:00-05:00' });
    expect(advice.statusCode, advice.body).toBe(202);
    expect(advice.json()).toMatchObject({ invoiceId: invoice!.id, amount: 1_080_000, currency: 'USD', reference: 'WIRE-77', sentAt: '2027-03-19T14:00:00.000Z' });
    expect((await customer('POST', `/v1/invoices/${invoice!.id}/remittance-advice`, { amount: 1_080_000, reference: 'WIRE-77', sentAt: '2027-03-19T14:00:00Z' })).statusCode).toBe(202);
    await p.settle();
    expect((await invoices())[0]).toMatchObject({ status: 'open', amountRemaining: 1_080_000 });
    const listed = (await operator('GET', `/v1/admin/remittance-advice?organizationId=${org.id}`)).json().data;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ reference: 'WIRE-77', organizationId: org.id });

    // The operator records the transfer when it arrives; the currency may come in either case.
    const paid = await pay(invoice!.id, 1_080_000, 'WIRE-77');
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json()).toMatchObject({ currency: 'USD', amountRemaining: 0 });
  });

  it('refuses money in invalid shapes: floats, strings, too large, leap seconds, impossible dates', async () => {
    await subscribe();
    const [invoice] = await invoices();
    const before = await p.eventCount();
    for (const [body, field] of [
      [{ amount: 10.5, currency: 'USD', reference: 'a', receivedAt: '2027-03-20T10:00:00Z' }, /amount/],
      [{ amount: '100', currency: 'USD', reference: 'a', receivedAt: '2027-03-20T10:00:00Z' }, /amount/],
      [{ amount: 1_000_000_000_001, currency: 'USD', reference: 'a', receivedAt: '2027-03-20T10:00:00Z' }, /amount/],
      [{ amount: 100, currency: 'USD', reference: 'a', receivedAt: '2026-12-31T23:59:60Z' }, /receivedAt/],
      [{ amount: 100, currency: 'USD', reference: 'a', receivedAt: '2027-02-30T10:00:00Z' }, /receivedAt/],
      [{ amount: 100, currency: 'USD', reference: 'a', receivedAt: '+275760-09-13T00:00:00Z' }, /receivedAt/],
    ] as const) {
      problem(await operator('POST', `/v1/admin/invoices/${invoice!.id}/payments`, body), 400, field);
    }
    expect(await p.eventCount()).toBe(before);
  });
});

describe('refunds', () => {
  it('a bank-transfer refund reopens its invoice, and the subscription follows the due date again', async () => {
    await subscribe();
    const [invoice] = await invoices();
    const payment = (await pay(invoice!.id, 1_080_000, 'WIRE-1')).json();
    await p.settle();
    expect((await invoices())[0]!.status).toBe('paid');

    problem(await p.app.inject({ method: 'POST', url: `/v1/admin/payments/${payment.id}/refunds`, headers: bearer(org.apiKey), payload: {} }), 401);
    problem(await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: 100_000 }), 422, /reference and refundedAt/);
    problem(await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: 2_000_000, reference: 'RET-1', refundedAt: '2027-03-25T10:00:00Z' }), 422, /at most 1080000/);
    const refunded = await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: 300_000, reference: 'RET-1', refundedAt: '2027-03-25T10:00:00Z' });
    expect(refunded.statusCode, refunded.body).toBe(201);
    expect(refunded.json()).toMatchObject({ status: 'refunded', refundedAmount: 300_000 });
    await p.settle();
    expect((await invoices())[0]).toMatchObject({ status: 'partially_paid', amountRemaining: 300_000 });

    // Past its due date, the reopened invoice makes the subscription past due; paying it recovers it.
    clock = new Date(Date.parse(invoice!.dueAt) + 1000);
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ pastDue: 1 });
    expect((await customer('GET', '/v1/subscription')).json().status).toBe('past_due');
    expect((await pay(invoice!.id, 300_000, 'WIRE-2')).statusCode).toBe(201);
    await p.settle();
    expect((await customer('GET', '/v1/subscription')).json().status).toBe('active');

    // Reopened again by a second refund: dunning starts again (past due at the next pass), not replayed as done.
    expect((await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: 100_000, reference: 'RET-2', refundedAt: '2027-03-26T10:00:00Z' })).statusCode).toBe(201);
    await p.settle();
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ pastDue: 1 });
    expect((await customer('GET', '/v1/subscription')).json().status).toBe('past_due');
  });

  it('gives a reopened invoice 30 days before the subscription is unpaid, counted from the refund, not the old due date', async () => {
    await subscribe();
    const [invoice] = await invoices();
    const payment = (await pay(invoice!.id, 1_080_000, 'WIRE-1')).json();
    await p.settle();
    clock = new Date(Date.parse(invoice!.dueAt) + 40 * 86_400_000); // long after the due date
    expect((await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: 100_000, reference: 'RET-1', refundedAt: clock.toISOString() })).statusCode).toBe(201);
    await p.settle();
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ pastDue: 1, unpaid: 0 });
    clock = new Date(clock.getTime() + 29 * 86_400_000);
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ unpaid: 0 });
    clock = new Date(clock.getTime() + 2 * 86_400_000);
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ unpaid: 1 });
    expect((await customer('GET', '/v1/subscription')).json().status).toBe('unpaid');
  });

  it('refunds only what a transfer still applies: what a credit note moved to credit is not returned twice; a refund reference counts once', async () => {
    await subscribe(1);
    const [invoice] = await invoices();
    const total = invoice!.total;
    const payment = (await pay(invoice!.id, total, 'WIRE-1')).json();
    await p.settle();
    expect((await operator('POST', `/v1/admin/invoices/${invoice!.id}/credit-notes`, { amount: 20_000, reason: 'negotiated discount' })).statusCode).toBe(201);
    await p.settle();
    expect((await customer('GET', '/v1/credit-balance')).json().balances).toEqual({ USD: 20_000 });
    const before = await p.eventCount();
    problem(await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: total, reference: 'RET-1', refundedAt: '2027-03-25T10:00:00Z' }), 422, new RegExp(`at most ${total - 20_000}`));
    expect(await p.eventCount()).toBe(before);
    const refunded = await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: 30_000, reference: 'RET-1', refundedAt: '2027-03-25T10:00:00Z' });
    expect(refunded.statusCode, refunded.body).toBe(201);
    problem(await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { amount: 30_000, reference: 'RET-1', refundedAt: '2027-03-25T10:00:00Z' }), 409, /RET-1 is already recorded/);
    // Without an amount: the rest of what it still applies.
    const rest = await operator('POST', `/v1/admin/payments/${payment.id}/refunds`, { reference: 'RET-2', refundedAt: '2027-03-26T10:00:00Z' });
    expect(rest.statusCode, rest.body).toBe(201);
    expect(rest.json()).toMatchObject({ refundedAmount: total - 20_000 });
    await p.settle();
    // Cash: received total, returned total − 20,000; 20,000 of credit; the invoice is owed in full less its credit note.
    const [after] = await invoices();
    expect(after).toMatchObject({ status: 'open', amountRemaining: total - 20_000 });
    const view = (await customer('GET', `/v1/invoices/${invoice!.id}`)).json();
    expect(view.amountPaid + view.amountCredited).toBeLessThanOrEqual(view.total);
    expect(view).toMatchObject({ amountPaid: 0, amountCredited: 20_000 });
    expect((await customer('GET', '/v1/credit-balance')).json().balances).toEqual({ USD: 20_000 });
  });

  it('answers a payment recorded right after a credit note with what is still owed after both', async () => {
    await subscribe(1);
    const [invoice] = await invoices();
    expect((await operator('POST', `/v1/admin/invoices/${invoice!.id}/credit-notes`, { amount: 100_000, reason: 'discount' })).statusCode).toBe(201);
    const paid = await pay(invoice!.id, invoice!.total - 100_000, 'WIRE-1');
    expect(paid.statusCode, paid.body).toBe(201);
    expect(paid.json()).toMatchObject({ amountRemaining: 0, appliedAmount: invoice!.total - 100_000, excessAmount: 0 });
    await p.settle();
    expect((await invoices())[0]).toMatchObject({ status: 'paid', amountRemaining: 0 });
  });

  it('does not refund credit, which no money paid in', async () => {
    await subscribe(1);
    const [first] = await invoices();
    await pay(first!.id, first!.total + 5_000, 'WIRE-1');
    await p.settle();
    // A second invoice (a seat increase) is settled from the 5,000 of credit.
    clock = new Date('2027-06-01T00:00:00Z');
    expect((await p.app.inject({ method: 'PATCH', url: '/v1/subscription', headers: bearer(org.apiKey), payload: { seats: 2 } })).statusCode).toBe(200);
    await p.settle();
    const credit = (await customer('GET', '/v1/payments')).json().data.find((x: { method: string }) => x.method === 'credit_balance');
    expect(credit).toMatchObject({ amount: 5_000 });
    problem(await operator('POST', `/v1/admin/payments/${credit.id}/refunds`, { reference: 'R', refundedAt: '2027-06-02T00:00:00Z' }), 409, /credit/);
  });
});

describe('payment terms', () => {
  it('defaults to bank transfer at net 30; the operator sets other terms; a customer chooses only within them', async () => {
    expect((await customer('GET', '/v1/billing-terms')).json()).toEqual({ collectionMethods: ['send_invoice'], daysUntilDue: 30, source: 'default' });
    problem(await customer('POST', '/v1/subscription', { planId: 'city', seats: 1, collectionMethod: 'charge_automatically' }), 422, /payment terms allow send_invoice/);
    problem(await p.app.inject({ method: 'PUT', url: `/v1/admin/organizations/${org.id}/billing-terms`, headers: bearer(org.apiKey), payload: { collectionMethods: ['send_invoice'], daysUntilDue: 90 } }), 401);
    problem(await operator('PUT', `/v1/admin/organizations/${org.id}/billing-terms`, { collectionMethods: ['charge_automatically'], daysUntilDue: 30 }), 422, /cannot carry out charge_automatically/);
    problem(await operator('PUT', '/v1/admin/organizations/00000000-0000-4000-8000-000000000000/billing-terms', { collectionMethods: ['send_invoice'], daysUntilDue: 30 }), 404);
    const set = await operator('PUT', `/v1/admin/organizations/${org.id}/billing-terms`, { collectionMethods: ['send_invoice'], daysUntilDue: 45 });
    expect(set.json()).toEqual({ collectionMethods: ['send_invoice'], daysUntilDue: 45, source: 'operator' });
    await subscribe();
    const [invoice] = await invoices();
    expect(invoice!.dueAt).toBe(endOfLocalDay(invoice!.issuedAt, 45));

    // New terms apply to new subscriptions; a charge is invoiced on the terms it carries.
    await operator('PUT', `/v1/admin/organizations/${org.id}/billing-terms`, { collectionMethods: ['send_invoice'], daysUntilDue: 10 });
    clock = new Date('2027-06-01T00:00:00Z');
    expect((await p.app.inject({ method: 'PATCH', url: '/v1/subscription', headers: bearer(org.apiKey), payload: { seats: 4 } })).statusCode).toBe(200);
    await p.settle();
    const proration = (await invoices()).find((i) => i.id !== invoice!.id)!;
    expect(proration.dueAt).toBe(endOfLocalDay(proration.issuedAt, 45));
    const charges: { type: string; data: { terms?: unknown } }[] = [];
    for await (const e of p.ctx.store.readStream(`subscription-${org.id}`)) charges.push(e as never);
    expect(charges.find((e) => e.type === 'billing.subscription.seats_changed')!.data.terms).toEqual({ collectionMethod: 'send_invoice', daysUntilDue: 45, poNumber: null, provider: 'manual' });
  });
});

describe('credit', () => {
  it('settles the other open invoices at once, oldest first', async () => {
    await subscribe(1);
    clock = new Date('2027-06-01T00:00:00Z');
    await p.app.inject({ method: 'PATCH', url: '/v1/subscription', headers: bearer(org.apiKey), payload: { seats: 2 } });
    await p.settle(); // invoiced in June: an invoice is dated when it is issued
    clock = new Date('2027-07-01T00:00:00Z');
    await p.app.inject({ method: 'PATCH', url: '/v1/subscription', headers: bearer(org.apiKey), payload: { seats: 3 } });
    await p.settle();
    const [annual, june, july] = (await invoices()).sort((a, b) => a.issuedAt.localeCompare(b.issuedAt));
    // Pay the annual invoice with enough over to cover June in full and part of July.
    const over = june!.total + 1_000;
    await pay(annual!.id, annual!.total + over, 'WIRE-BIG');
    await p.settle();
    const after = await invoices();
    expect(after.find((i) => i.id === june!.id)).toMatchObject({ status: 'paid', amountRemaining: 0 });
    expect(after.find((i) => i.id === july!.id)).toMatchObject({ status: 'partially_paid', amountRemaining: july!.total - 1_000 });
    expect((await customer('GET', '/v1/credit-balance')).json().balances.USD).toBe(0);
  });

  it('never loses money when credit and a transfer settle the same invoice', async () => {
    await subscribe(1);
    const [invoice] = await invoices();
    const meta = (commandId: string) => ({ commandId, now: clock.toISOString(), organizationId: org.id });
    // A transfer pays the invoice in full while credit taken for it is on its way (the race, made certain).
    await pay(invoice!.id, invoice!.total, 'WIRE-1');
    const { runReceivableCommand } = await import('../application/receivableCommands.ts');
    await runReceivableCommand(p.ctx, invoice!.id, { type: 'SettleFromCredit', data: { paymentId: 'credit_race', amount: 7_000, currency: 'USD', receivedAt: clock.toISOString() }, metadata: meta('race') });
    await p.settle();
    const types: string[] = [];
    for await (const e of p.ctx.store.readStream(receivableStream(invoice!.id))) types.push(e.type);
    expect(types).toEqual(['billing.receivable.opened', 'billing.payment.succeeded', 'billing.payment.succeeded']);
    // The 7,000 taken from credit is recorded as excess and returns to the balance.
    expect((await customer('GET', '/v1/credit-balance')).json().balances.USD).toBe(7_000);
  });
});
