import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform({ now: () => new Date('2027-05-10T12:00:00Z') });
});
afterEach(() => p.close());

describe('taxed invoices', () => {
  it('carry the tax the operator set for the organization; the receivable is the total with tax', async () => {
    const org = await p.createOrganization('Ville de Lyon', { timeZone: 'Europe/Paris' });
    const key = { authorization: `Bearer ${org.apiKey}` };
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const setTax = (payload: object, headers = admin) => p.app.inject({ method: 'PUT', url: `/v1/admin/organizations/${org.id}/tax-settings`, headers, payload });
    expect((await p.app.inject({ url: '/v1/organization/tax-settings', headers: key })).json()).toEqual({ rateBasisPoints: 0, mode: 'exclusive', note: null });
    // The customer cannot set its own tax; a zero rate without its reason is refused.
    expect((await setTax({ rateBasisPoints: 0, mode: 'exclusive' }, key)).statusCode).toBe(401);
    expect((await setTax({ rateBasisPoints: 0, mode: 'exclusive' })).statusCode).toBe(422);
    expect((await p.app.inject({ method: 'PUT', url: '/v1/admin/organizations/00000000-0000-4000-8000-000000000000/tax-settings', headers: admin, payload: { rateBasisPoints: 2000, mode: 'exclusive' } })).statusCode).toBe(404);
    const set = await setTax({ rateBasisPoints: 2_000, mode: 'exclusive' });
    expect(set.statusCode, set.body).toBe(200);
    await p.settle();

    expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: key, payload: { planId: 'city', seats: 1 } })).statusCode).toBe(201);
    await p.settle();
    const [invoice] = (await p.app.inject({ url: '/v1/invoices', headers: key })).json().data as { id: string; subtotal: number; total: number; amountDue: number; tax: { amount: number; rateBasisPoints: number }; lines: { amount: number }[] }[];
    const lines = invoice!.lines.reduce((s, l) => s + l.amount, 0);
    expect(invoice).toMatchObject({ subtotal: lines, tax: { rateBasisPoints: 2_000, mode: 'exclusive', amount: lines / 5 }, total: lines * 1.2, amountDue: lines * 1.2 });
    // The lines alone do not settle it: the transfer of the total does.
    const partial = await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice!.id}/payments`, headers: admin, payload: { amount: lines, currency: 'USD', reference: 'WIRE-1', receivedAt: '2027-05-11T10:00:00Z' } });
    expect(partial.json()).toMatchObject({ amountRemaining: lines / 5 });
    await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice!.id}/payments`, headers: admin, payload: { amount: lines / 5, currency: 'USD', reference: 'WIRE-2', receivedAt: '2027-05-12T10:00:00Z' } });
    await p.settle();
    expect((await p.app.inject({ url: `/v1/invoices/${invoice!.id}`, headers: key })).json()).toMatchObject({ status: 'paid', amountRemaining: 0 });
  });
});
