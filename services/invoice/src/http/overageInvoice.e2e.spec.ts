import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportOveragePlans, startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import type { StoredEvent } from '@curbmap/eventsourcing';
import { adjustmentLine, creditOverage } from '../application/overageInvoicing.ts';
import { renderDocument } from '../application/invoiceDocuments.ts';

let p: TestPlatform;
let clock: Date;
let plans: ReturnType<typeof exportOveragePlans>;

beforeEach(async () => {
  clock = new Date('2027-05-10T12:00:00Z');
  // The City plan with one export job included and each further one at $25.00.
  plans = exportOveragePlans();
  p = await startTestPlatform({ now: () => clock, modules: { plansFile: plans.plansFile } });
});
afterEach(async () => {
  await p.close();
  plans.remove();
});

describe('overage invoices', () => {
  it('bill the use over the plan\'s included amount when the subscription year closes, once, payable like any invoice', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const call = (method: 'GET' | 'POST', url: string, payload?: object, h = headers) => p.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
    const project = (await call('POST', '/v1/projects', { name: 'Downtown' })).json().id;
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    const zone = { curb_zone_id: 'e1000000-0000-4000-8000-000000000001', geometry: { type: 'LineString', coordinates: [[-87.6, 41.8], [-87.59, 41.81]] }, curb_policy_ids: [], published_date: 1, last_updated_date: 1, start_date: 1 };
    expect((await p.app.inject({ method: 'POST', url: `/v1/projects/${project}/curbs/import`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ version: '1.1', data: { zones: [zone] } }) })).statusCode).toBe(201);
    // Three exports in the year: two over the one included.
    for (let i = 0; i < 3; i++) expect((await call('POST', '/v1/exports', { dataset: 'zones', format: 'csv' })).statusCode).toBe(202);
    await p.modules.export.runner!.idle();
    await p.settle();
    const before = (await call('GET', '/v1/invoices')).json().data as { id: string }[];
    expect(before).toHaveLength(1); // the annual fee

    // The year ends (2028-05-10T05:00Z in Chicago), renews, and closes an hour later.
    clock = new Date('2028-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    clock = new Date('2028-05-10T06:01:00Z');
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(1);
    await p.settle();
    const invoices = (await call('GET', '/v1/invoices')).json().data as { id: string; total: number; status: string; lines: { description: string; quantity: number; unitAmount: number; amount: number }[] }[];
    const overage = invoices.filter((i) => i.lines.some((l) => l.description.startsWith('Overage')));
    expect(overage).toHaveLength(1);
    expect(overage[0]!.lines).toEqual([expect.objectContaining({ quantity: 2, unitAmount: 2_500, amount: 5_000, description: expect.stringMatching(/^Overage export_jobs: 2 over the 1 included.*\/v1\/usage\/report\.csv\?meter=export_jobs&from=2027-05-10T05:00:00\.000Z&to=2028-05-10T05:00:00\.000Z/) })]);
    expect(overage[0]).toMatchObject({ total: 5_000, status: 'open', lines: [expect.objectContaining({ meter: 'export_jobs' })] });
    // The printed invoice names where the usage behind the line is listed.
    const html = await renderDocument(p.ctx, org.id, (await call('GET', `/v1/invoices/${overage[0]!.id}`)).json(), { legalName: 'CurbMap Inc.', addressLines: [], taxId: null, remittance: 'Wire' });
    expect(html).toContain(`Usage behind this line: GET /v1/invoices/${overage[0]!.id}/lines/1/usage.csv`);
    // Numbered without a gap per year of the organization's zone: the first year's fee, then the renewal and the overage.
    expect(invoices.map((i) => (i as unknown as { number: string }).number)).toEqual(['CM-2028-000002', 'CM-2028-000001', 'CM-2027-000001']);
    // Pages, newest first, and the issue-date filter.
    const first = (await call('GET', '/v1/invoices?limit=2')).json();
    expect(first.data.map((i: { number: string }) => i.number)).toEqual(['CM-2028-000002', 'CM-2028-000001']);
    const second = (await call('GET', `/v1/invoices?limit=2&cursor=${first.next}`)).json();
    expect(second).toEqual({ data: [expect.objectContaining({ number: 'CM-2027-000001' })], next: null });
    expect((await call('GET', '/v1/invoices?from=2028-01-01T00:00:00Z&to=2028-05-10T06:00:00Z')).json().data.map((i: { number: string }) => i.number)).toEqual(['CM-2028-000001']);
    expect((await call('GET', '/v1/invoices?cursor=bogus')).statusCode).toBe(422);

    // Closing again, or the close redelivered, bills nothing twice; the operator records the transfer.
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(0);
    await p.settle();
    expect((await call('GET', '/v1/invoices')).json().data.filter((i: { lines: { description: string }[] }) => i.lines.some((l) => l.description.startsWith('Overage')))).toHaveLength(1);
    const paid = await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${overage[0]!.id}/payments`, headers: admin, payload: { amount: 5_000, currency: 'USD', reference: 'WIRE-OVER', receivedAt: '2028-05-11T10:00:00Z' } });
    expect(paid.statusCode, paid.body).toBe(201);
    await p.settle();
    expect((await call('GET', `/v1/invoices/${overage[0]!.id}`)).json()).toMatchObject({ status: 'paid', amountRemaining: 0 });

    // Usage that reached the closed year afterwards (the usage service's adjustment) is billed on its own invoice.
    const adjustmentId = 'ad000000-0000-4000-8000-000000000001';
    const adjustment = { periodStart: '2027-05-10T05:00:00.000Z', periodEnd: '2028-05-10T05:00:00.000Z', planId: 'city', meter: 'export_jobs', previousTotal: 3, total: 5, delta: 2, sourceEventId: adjustmentId };
    const append = () => p.ctx.store.append(`usageperiod-${org.id}`, [{ id: adjustmentId, type: 'usage.adjustment.recorded', data: adjustment, occurredAt: clock.toISOString(), organizationId: org.id, correlationId: adjustmentId, causationId: adjustmentId }], { expectedVersion: 'any' });
    await append();
    await append(); // redelivered: the same event, nothing new
    await p.settle();
    const adjusted = ((await call('GET', '/v1/invoices')).json().data as { lines: { description: string; quantity: number; amount: number }[] }[]).filter((i) => i.lines.some((l) => l.description.startsWith('Overage adjustment')));
    expect(adjusted).toHaveLength(1);
    expect(adjusted[0]!.lines).toEqual([expect.objectContaining({ quantity: 2, amount: 5_000 })]);

    // A correction then takes the year down to 2 exports (3 fewer units than billed): credited by credit notes,
    // the newest invoice first (the adjustment's 5,000 in full), then 2,500 of the paid overage invoice, whose
    // excess payment returns as credit and pays part of the oldest open invoice (the first year's fee). Redelivered, it credits nothing twice.
    const loweringId = 'ad000000-0000-4000-8000-000000000002';
    const lowering = { ...adjustment, previousTotal: 5, total: 2, delta: -3, sourceEventId: loweringId };
    const appendLowering = () => p.ctx.store.append(`usageperiod-${org.id}`, [{ id: loweringId, type: 'usage.adjustment.recorded', data: lowering, occurredAt: clock.toISOString(), organizationId: org.id, correlationId: loweringId, causationId: loweringId }], { expectedVersion: 'any' });
    await appendLowering();
    await appendLowering();
    await p.settle();
    const after = (await call('GET', '/v1/invoices')).json().data as { id: string; number: string; status: string; amountPaid: number; amountCredited?: number; amountRemaining: number; creditNotes?: { number: string; amount: number; reason: string }[] }[];
    const adjustedAfter = after.find((i) => i.id === (adjusted[0] as unknown as { id: string }).id)!;
    const overageAfter = after.find((i) => i.id === overage[0]!.id)!;
    expect(adjustedAfter).toMatchObject({ amountCredited: 5_000, amountRemaining: 0, creditNotes: [expect.objectContaining({ amount: 5_000, reason: expect.stringMatching(/5 → 2 after the close, 3 × 1 fewer/) })] });
    expect(overageAfter).toMatchObject({ status: 'paid', amountCredited: 2_500, creditNotes: [expect.objectContaining({ number: `${(overage[0] as unknown as { number: string }).number}-CN01`, amount: 2_500 })] });
    expect(after.find((i) => i.number === 'CM-2027-000001')).toMatchObject({ status: 'partially_paid', amountPaid: 2_500 });
    expect((await call('GET', '/v1/credit-balance')).json().balances.USD).toBe(0);

    // The operator credits the rest of the overage invoice (a goodwill gesture); a later correction takes the year
    // down to no export at all (2 → 0: the one unit over the included export, 2,500, fewer). No invoice can credit it
    // in full: 1,000 is left on the overage invoice (5,000 less 2,500 and 1,500 credited), the other 1,500 is
    // reported to the operator, never dropped.
    expect((await call('POST', `/v1/admin/invoices/${overage[0]!.id}/credit-notes`, { amount: 1_500, reason: 'goodwill' }, admin)).statusCode).toBe(201);
    await p.settle();
    const zeroId = 'ad000000-0000-4000-8000-000000000003';
    const zero = { ...adjustment, previousTotal: 2, total: 0, delta: -2, sourceEventId: zeroId };
    // First handled by a process that dies between the credit note and the report, then redelivered: the report
    // says what the first run left (1,500), not what a fresh look at the credited invoices would (2,500).
    const zeroEvent = { id: zeroId, type: 'usage.adjustment.recorded', data: zero, occurredAt: clock.toISOString(), organizationId: org.id, correlationId: zeroId } as unknown as StoredEvent;
    const { credit: _credit, ...zeroLine } = adjustmentLine(zero, 'USD', () => ({ unitSize: 1, prices: { USD: 2_500 } }), () => 1)!;
    const dying = new Proxy(p.ctx.store, {
      get(target, key) {
        if (key === 'append') return (streamId: string, ...rest: unknown[]) => (streamId.startsWith('usagecredit-') ? Promise.reject(new Error('killed')) : (target.append as (...a: unknown[]) => unknown)(streamId, ...rest));
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    await expect(creditOverage({ ...p.ctx, store: dying }, zeroEvent, zero, zeroLine, 'USD')).rejects.toThrow('killed');
    await p.settle();
    await creditOverage(p.ctx, zeroEvent, zero, zeroLine, 'USD');
    await creditOverage(p.ctx, zeroEvent, zero, zeroLine, 'USD');
    await p.settle();
    const reported = (await call('GET', `/v1/admin/uncredited-adjustments?organizationId=${org.id}`, undefined, admin)).json().data;
    expect(reported).toEqual([expect.objectContaining({ organizationId: org.id, sourceEventId: zeroId, meter: 'export_jobs', amount: 1_500, currency: 'USD', reason: expect.stringMatching(/2 → 0 after the close/) })]);
    const overageNow = (await call('GET', `/v1/invoices/${overage[0]!.id}`)).json();
    expect(overageNow).toMatchObject({ amountCredited: 5_000 });
    expect(overageNow.creditNotes.at(-1)).toMatchObject({ amount: 1_000, reason: expect.stringMatching(/2 → 0 after the close/) });
    expect((await call('GET', '/v1/admin/uncredited-adjustments', undefined, headers)).statusCode).toBe(401);
  });
});
