import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Document, Projection } from '@curbmap/eventsourcing';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform({ now: () => new Date('2027-03-10T15:30:00Z') });
});
afterEach(() => p.close());

async function snapshot(projections: Projection[]) {
  const out: Record<string, Document[]> = {};
  for (const projection of projections) for (const c of projection.collections) out[c] = await p.ctx.readStore.find(c, {}, { limit: 10_000 });
  return out;
}

describe('read models without multi-document transactions', () => {
  it('change nothing when every event is delivered again (as a broker redelivers after a partial write)', async () => {
    const org = await p.createOrganization();
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const key = (await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers, payload: { name: 'temp', role: 'member' } })).json();
    await p.app.inject({ method: 'DELETE', url: `/v1/api-keys/${key.apiKey.id}`, headers });
    await p.app.inject({ method: 'POST', url: '/v1/subscription', headers, payload: { planId: 'city', seats: 3 } });
    await p.settle();
    const [invoice] = (await p.app.inject({ url: '/v1/invoices', headers })).json().data;
    const payment = (await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice.id}/payments`, headers: admin, payload: { amount: invoice.total + 5_000, currency: 'USD', reference: 'W1', receivedAt: '2027-03-20T00:00:00Z' } })).json();
    await p.settle(); // the excess is credit before the refund reopens the invoice
    await p.app.inject({ method: 'POST', url: `/v1/admin/payments/${payment.id}/refunds`, headers: admin, payload: { amount: 1_000, reference: 'R1', refundedAt: '2027-03-21T00:00:00Z' } });
    await p.settle();

    const projections = p.modules.all.flatMap((m) => m.projections);
    const before = await snapshot(projections);
    for (const projection of projections) {
      for await (const event of p.ctx.store.readAll({ filter: projection.filter })) {
        await p.ctx.readStore.transaction((tx) => projection.apply(event, tx));
      }
    }
    expect(await snapshot(projections)).toEqual(before);
    // The revoked key stays revoked, the paid amounts and the credit are counted once.
    expect((await p.app.inject({ url: '/v1/organization', headers: { authorization: `Bearer ${key.key}` } })).statusCode).toBe(401);
    expect((await p.app.inject({ url: `/v1/invoices/${invoice.id}`, headers })).json()).toMatchObject({ amountPaid: invoice.total - 1_000 });
    expect((await p.app.inject({ url: '/v1/credit-balance', headers })).json().balances).toEqual({ USD: 5_000 });
  });
});
