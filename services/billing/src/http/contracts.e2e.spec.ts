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
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, terms)).statusCode).toBe(401);
    expect((await call('GET', '/v1/organization/contract')).json()).toEqual({ current: null, versions: [] });

    const set = await call('PUT', `/v1/admin/organizations/${org.id}/contract`, terms, admin);
    expect(set.statusCode, set.body).toBe(200);
    expect((await call('GET', '/v1/organization/contract')).json().current).toMatchObject({ ...terms, version: 1, effectiveFrom: clock.toISOString() });

    // 360,000 a seat less 10 %, named on the invoice.
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    await p.settle();
    const invoices = async () => (await call('GET', '/v1/invoices')).json().data as Invoice[];
    expect((await invoices())[0]!.lines).toEqual([expect.objectContaining({ description: '1 × City, contract SPR-2027-01 (annual)', unitAmount: 324_000, amount: 324_000 })]);

    // A later version (from 1 June 2028) commits more: the first year keeps its terms.
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, { ...terms, minimumAnnualCommitment: { USD: 900_000 }, effectiveFrom: '2028-06-01T05:00:00Z', reference: 'SPR-2027-01-A' }, admin)).statusCode).toBe(200);
    expect((await call('GET', '/v1/organization/contract')).json()).toMatchObject({ current: { version: 1 }, versions: [{ version: 1 }, { version: 2 }] });

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
    expect(trueUps[0]!.lines).toEqual([expect.objectContaining({ description: 'Minimum annual commitment (contract SPR-2027-01): 400000 committed, 324000 billed for the year; the shortfall', quantity: 1, amount: 76_000, periodStart: '2027-05-10T05:00:00.000Z' })]);

    // Another organization has no contract of its own.
    const other = await p.createOrganization('Shelbyville');
    expect((await call('GET', '/v1/organization/contract', undefined, { authorization: `Bearer ${other.apiKey}` })).json()).toEqual({ current: null, versions: [] });
    expect((await call('GET', `/v1/admin/organizations/${org.id}/contract`, undefined, admin)).json().versions).toHaveLength(2);
  });
});
