import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportOveragePlans, startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
let clock: Date;
let plans: ReturnType<typeof exportOveragePlans>;

beforeEach(async () => {
  clock = new Date('2027-05-10T12:00:00Z');
  // The City plan includes one export job a year; each further one is $25.00.
  plans = exportOveragePlans();
  p = await startTestPlatform({ now: () => clock, modules: { plansFile: plans.plansFile } });
});
afterEach(async () => {
  await p.close();
  plans.remove();
});

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
type Invoice = { id: string; number: string; lines: { description: string; quantity: number; unitAmount: number; amount: number; meter?: string; periodStart: string }[] };

describe("a contract's usage terms", () => {
  it('replace the plan\'s included usage and overage price for the years the contract prices, at the close, in quotas, on the invoice and in its evidence', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, h: Record<string, string> = headers) => p.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
    const terms = { planId: 'city', termYears: 1, seatPrice: null, escalatorBasisPoints: 0, minimumAnnualCommitment: null, reference: 'SPR-U', meters: { export_jobs: { includedUsage: 2, overage: { unitSize: 1, prices: { USD: 1_000 } } } } };
    const put = (body: object) => call('PUT', `/v1/admin/organizations/${org.id}/contract`, body, admin);

    // Refused, nothing written: an overage price in another currency, or none in the organization's; an unknown meter.
    expect((await put({ ...terms, meters: { export_jobs: { overage: { unitSize: 1, prices: { EUR: 900 } } } } })).json().detail).toMatch(/invoiced in USD/);
    expect((await put({ ...terms, meters: { export_jobs: { overage: { unitSize: 1, prices: {} } } } })).statusCode).toBe(400);
    expect((await put({ ...terms, meters: { parking_sessions: { includedUsage: 5 } } })).statusCode).toBe(400);
    expect((await put({ ...terms, meters: { export_jobs: {} } })).statusCode).toBe(400);
    expect((await call('GET', '/v1/organization/contract')).json().versions).toEqual([]);
    expect((await put(terms)).statusCode).toBe(200);
    // The same terms again, in another order: no second version (usage terms are compared too).
    expect((await put(terms)).json().versions).toHaveLength(1);
    expect((await put({ ...terms, meters: { export_jobs: { overage: { prices: { USD: 1_000 }, unitSize: 1 }, includedUsage: 2 } } })).json().versions).toHaveLength(1);
    expect((await call('GET', '/v1/organization/contract')).json().current).toMatchObject({ meters: terms.meters, version: 1 });

    const project = (await call('POST', '/v1/projects', { name: 'Downtown' })).json().id as string;
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    await p.settle();
    // The year the contract priced includes two export jobs, not the plan's one.
    const exportJobs = async () => ((await call('GET', '/v1/usage/quotas')).json().meters as { meter: string; included: number }[]).find((m) => m.meter === 'export_jobs');
    expect(await exportJobs()).toMatchObject({ included: 2 });

    const zone = { curb_zone_id: 'e1000000-0000-4000-8000-000000000001', geometry: { type: 'LineString', coordinates: [[-87.6, 41.8], [-87.59, 41.81]] }, curb_policy_ids: [], published_date: 1, last_updated_date: 1, start_date: 1 };
    expect((await p.app.inject({ method: 'POST', url: `/v1/projects/${project}/curbs/import`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ version: '1.1', data: { zones: [zone] } }) })).statusCode).toBe(201);
    for (let i = 0; i < 3; i++) expect((await call('POST', '/v1/exports', { dataset: 'zones', format: 'csv', projectId: project })).statusCode).toBe(202);
    await p.modules.export.runner!.idle();
    await p.settle();

    // The year ends and renews outside the contract's one-year term; it closes an hour later.
    clock = new Date('2028-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    clock = new Date('2028-05-10T06:01:00Z');
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(1);
    await p.settle();
    // Three exports, two included by the contract: one over, at the contract's $10.00, named on the line.
    const invoices = (await call('GET', '/v1/invoices')).json().data as Invoice[];
    const overage = invoices.find((i) => i.lines.some((l) => l.meter === 'export_jobs'))!;
    expect(overage.lines).toEqual([expect.objectContaining({ quantity: 1, unitAmount: 1_000, amount: 1_000, meter: 'export_jobs', description: expect.stringContaining('Overage export_jobs: 1 over the 2 included (contract SPR-U), 1 × 1') })]);
    // Its evidence counts in the contract's terms.
    const csv = await call('GET', `/v1/invoices/${overage.id}/lines/1/usage.csv`);
    expect(csv.statusCode, csv.body).toBe(200);
    const figures = Object.fromEntries(csv.body.trim().split(/\r?\n/).map((r) => r.split(',')).filter((r) => r[0] === '').map((r) => [r[5], Number(r[3])]));
    expect(figures).toMatchObject({ 'total counted': 3, 'included (plan and contract v1)': 2, 'unit size': 1, 'units billed': 1 });

    // The renewed year is outside the term: the plan's one export job again.
    expect(await exportJobs()).toMatchObject({ included: 1 });
  });

  it('a later version without a seat price renews at the plan\'s price (recording that version), and a year sold under a commitment owes it after a plan change', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: object, h: Record<string, string> = headers) => p.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
    const v1 = { planId: 'city', termYears: 3, seatPrice: { kind: 'price', amounts: { USD: 300_000 } }, escalatorBasisPoints: 0, minimumAnnualCommitment: null, reference: 'A' };
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, v1, admin)).statusCode).toBe(200);
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    await p.settle();
    // An amendment from 1 January: no seat price of its own (the plan's), five export jobs a year.
    const v2 = { ...v1, seatPrice: null, reference: 'B', effectiveFrom: '2028-01-01T06:00:00Z', meters: { export_jobs: { includedUsage: 5 } } };
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/contract`, v2, admin)).statusCode).toBe(200);
    clock = new Date('2028-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    const invoices = async () => (await call('GET', '/v1/invoices')).json().data as Invoice[];
    const renewal = (await invoices()).find((i) => i.lines[0]!.periodStart === '2028-05-10T05:00:00.000Z')!;
    // The plan's $3,600.00, not the first version's $3,000.00 kept on.
    expect(renewal.lines).toEqual([expect.objectContaining({ description: '1 × City (annual)', unitAmount: 360_000 })]);
    expect((await call('GET', '/v1/subscription')).json()).toMatchObject({ unitAmount: 360_000 });
    expect(((await call('GET', '/v1/usage/quotas')).json().meters as { meter: string; included: number }[]).find((m) => m.meter === 'export_jobs')).toMatchObject({ included: 5 });

    // Another organization commits $50,000.00 a year on City, then moves to Enterprise in its first year: the year
    // was sold under the commitment, so it owes it, less all it billed (City's seats and Enterprise's proration).
    clock = new Date('2028-06-01T12:00:00Z');
    const other = await p.createOrganization('Shelbyville', { timeZone: 'America/Chicago' });
    const otherHeaders = { authorization: `Bearer ${other.apiKey}` };
    expect((await call('PUT', `/v1/admin/organizations/${other.id}/contract`, { ...v1, seatPrice: null, minimumAnnualCommitment: { USD: 5_000_000 }, reference: 'S' }, admin)).statusCode).toBe(200);
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 }, otherHeaders)).statusCode).toBe(201);
    await p.settle();
    clock = new Date('2028-09-01T12:00:00Z');
    expect((await call('PATCH', '/v1/subscription', { planId: 'enterprise' }, otherHeaders)).statusCode).toBe(200);
    await p.settle();
    clock = new Date('2029-06-01T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    clock = new Date('2029-06-01T06:01:00Z');
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBeGreaterThanOrEqual(1);
    await p.settle();
    const lines = ((await call('GET', '/v1/invoices', undefined, otherHeaders)).json().data as Invoice[]).flatMap((i) => i.lines);
    const trueUps = lines.filter((l) => l.description.startsWith('Minimum annual commitment'));
    const billed = lines.filter((l) => !trueUps.includes(l) && l.periodStart >= '2028-06-01T05:00:00.000Z' && l.periodStart < '2029-06-01T05:00:00.000Z').reduce((sum, l) => sum + l.amount, 0);
    // The seats ($3,600.00) and the upgrade's proration: the rest of the $50,000.00, once.
    expect(billed).toBeGreaterThan(360_000);
    expect(trueUps).toEqual([expect.objectContaining({ amount: 5_000_000 - billed, periodStart: '2028-06-01T05:00:00.000Z', description: expect.stringContaining('(contract S)') })]);
  });
});
