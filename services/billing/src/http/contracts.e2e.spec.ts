import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
let clock: Date;
beforeEach(async () => {
  clock = new Date('2027-05-10T12:00:00Z');
  p = await startTestPlatform({ now: () => clock });
});
afterEach(() => p.close());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
type Invoice = { id: string; number: string; total: number; lines: { description: string; quantity: number; unitAmount: number; amount: number; periodStart: string }[] };

describe('negotiated contracts', () => {
  it('price the seats, escalate at renewal, true up the minimum commitment once at the year\'s close, and keep their history', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, h: Record<string, string> = headers) => p.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
    const terms = { planId: 'city', termYears: 3, seatPrice: { kind: 'discount_percent', basisPoints: 1_000 }, escalatorBasisPoints: 300, minimumAnnualCommitment: { USD: 400_000 }, reference: 'SPR-2027-01' };

    // Refused with a problem, nothing written: a date in the past, a plan that does not exist, a customer's key.
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, effectiveFrom: '2027-01-01T00:00:00Z' }, admin)).statusCode).toBe(422);
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, planId: 'platinum' }, admin)).statusCode).toBe(422);
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, seatPrice: { kind: 'price', amounts: { XYZ: 1 } } }, admin)).statusCode).toBe(422);
    // Terms that could never apply: another currency than the organization's, seats made free.
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, minimumAnnualCommitment: { EUR: 400_000 } }, admin)).json().detail).toMatch(/invoiced in USD/);
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, seatPrice: { kind: 'discount_percent', basisPoints: 10_000 } }, admin)).statusCode).toBe(422);
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, seatPrice: { kind: 'discount_amount', amounts: { USD: 360_000 } } }, admin)).statusCode).toBe(422);
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, terms)).statusCode).toBe(401);
    expect((await call('GET', '/v1/organization/contract')).json()).toEqual({ current: null, versions: [] });

    const set = await call('PUT', `/v1/admin/organizations/${org.id}/contract`, terms, admin);
    expect(set.statusCode, set.body).toBe(200);
    // Sent again (a retry without its Idempotency-Key): no second version.
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, terms, admin)).json().versions).toHaveLength(1);
    expect((await call('GET', '/v1/organization/contract')).json().current).toMatchObject({ ...terms, version: 1, effectiveFrom: clock.toISOString() });

    // 360,000 a seat less 10 %, named on the invoice.
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    await p.settle();
    const invoices = async () => (await call('GET', '/v1/invoices')).json().data as Invoice[];
    expect((await invoices())[0]!.lines).toEqual([expect.objectContaining({ description: '1 × City, contract SPR-2027-01 (annual)', unitAmount: 324_000, amount: 324_000 })]);

    // An amendment (from 1 June 2028) commits more: the years already priced keep their terms, and the term's years
    // and escalations go on from its start.
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, minimumAnnualCommitment: { USD: 900_000 }, effectiveFrom: '2028-06-01T05:00:00Z', reference: 'SPR-2027-01-A' }, admin)).statusCode).toBe(200);
    expect((await call('GET', '/v1/organization/contract')).json()).toMatchObject({ current: { version: 1 }, versions: [{ version: 1 }, { version: 2, termStart: '2027-05-10T12:00:00.000Z' }] });

    // The renewal: +3 % (333,720); the first year closes an hour later, 76,000 short of its 400,000: billed once.
    clock = new Date('2028-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    const renewal = (await invoices()).find((i) => i.lines[0]!.periodStart === '2028-05-10T05:00:00.000Z')!;
    expect(renewal.lines).toEqual([expect.objectContaining({ description: '1 × City, contract SPR-2027-01 (annual)', unitAmount: 333_720 })]);
    clock = new Date('2028-05-10T06:01:00Z');
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(1);
    await p.settle();
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(0);
    await p.settle();
    const trueUps = (await invoices()).filter((i) => i.lines.some((l) => l.description.startsWith('Minimum annual commitment')));
    expect(trueUps).toHaveLength(1);
    expect(trueUps[0]!.lines).toEqual([expect.objectContaining({ description: 'Minimum annual commitment (contract SPR-2027-01): $4,000.00 committed, $3,240.00 billed for the year, net of tax; the shortfall', quantity: 1, amount: 76_000, periodStart: '2027-05-10T05:00:00.000Z' })]);

    // The third year: the amendment is in effect, in the term's third year (+3 % twice: 343,732); the second year,
    // priced under the first version, is trued up to its 400,000 (333,720 billed: 66,280 short).
    clock = new Date('2029-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    const third = (await invoices()).find((i) => i.lines[0]!.periodStart === '2029-05-10T05:00:00.000Z')!;
    expect(third.lines).toEqual([expect.objectContaining({ description: '1 × City, contract SPR-2027-01-A (annual)', unitAmount: 343_732 })]);
    clock = new Date('2029-05-10T06:01:00Z');
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(1);
    await p.settle();
    const secondTrueUp = (await invoices()).find((i) => i.lines.some((l) => l.description.startsWith('Minimum annual commitment') && l.periodStart === '2028-05-10T05:00:00.000Z'))!;
    expect(secondTrueUp.lines[0]).toMatchObject({ amount: 66_280 });
    // Three years from its start the term has ended: no contract in effect, the history kept.
    clock = new Date('2030-06-01T00:00:00Z');
    expect((await call('GET', '/v1/organization/contract')).json()).toMatchObject({ current: null, versions: [{ version: 1 }, { version: 2 }] });

    // Another organization has no contract of its own.
    const other = await p.createOrganization('Shelbyville');
    expect((await call('GET', '/v1/organization/contract', undefined, { authorization: `Bearer ${other.apiKey}` })).json()).toEqual({ current: null, versions: [] });
    expect((await call('GET', `/v1/admin/organizations/${org.id}/contract`, undefined, admin)).json().versions).toHaveLength(2);
  });
});
