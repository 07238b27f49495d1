import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportOveragePlans, startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { closeDuePeriods } from '../application/periodClosing.ts';
import { ingestUsage } from '../application/usageCommands.ts';
import { usagePricing } from '../projections/usagePlansProjection.ts';

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

type Line = { description: string; quantity: number; meter?: string };
type Invoice = { id: string; number: string; lines: Line[] };

/** A CSV of simple fields (no quotes in this data) as rows of its columns. */
const parse = (csv: string) => {
  const [header, ...rows] = csv.trim().split(/\r?\n/).map((r) => r.split(','));
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ''])) as Record<'event_id' | 'time' | 'project_id' | 'value' | 'sign' | 'note', string>);
};
const figures = (rows: ReturnType<typeof parse>) => Object.fromEntries(rows.filter((r) => r.event_id === '').map((r) => [r.note, Number(r.value)]));

describe('the usage behind an overage line', () => {
  it('lists the counted events whose total gives the line\'s quantity, for the close and for a late event\'s adjustment, to the organization only', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const call = (method: 'GET' | 'POST', url: string, payload?: object, h = headers) => p.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
    const project = (await call('POST', '/v1/projects', { name: 'Downtown' })).json().id as string;
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    const zone = { curb_zone_id: 'e1000000-0000-4000-8000-000000000001', geometry: { type: 'LineString', coordinates: [[-87.6, 41.8], [-87.59, 41.81]] }, curb_policy_ids: [], published_date: 1, last_updated_date: 1, start_date: 1 };
    expect((await p.app.inject({ method: 'POST', url: `/v1/projects/${project}/curbs/import`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify({ version: '1.1', data: { zones: [zone] } }) })).statusCode).toBe(201);
    // Three exports in the year: two over the one included.
    const exports: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await call('POST', '/v1/exports', { dataset: 'zones', format: 'csv', projectId: project });
      expect(created.statusCode, created.body).toBe(202);
      exports.push(created.json().id);
    }
    await p.modules.export.runner!.idle();
    await p.settle();

    // The year ends (2028-05-10T05:00Z in Chicago), renews, and closes an hour later.
    clock = new Date('2028-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    clock = new Date('2028-05-10T06:01:00Z');
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(1);
    await p.settle();
    const overageOf = async (prefix: string) => ((await call('GET', '/v1/invoices')).json().data as Invoice[]).find((i) => i.lines.some((l) => l.description.startsWith(prefix)))!;
    const overage = await overageOf('Overage export_jobs');
    expect(overage.lines).toEqual([expect.objectContaining({ quantity: 2, meter: 'export_jobs' })]);

    const csv = await call('GET', `/v1/invoices/${overage.id}/lines/1/usage.csv`);
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['content-disposition']).toContain(`${overage.number}-line-1-export_jobs.csv`);
    const rows = parse(csv.body);
    const counted = rows.filter((r) => r.event_id !== '');
    // Each export's completion, once, in its project, counted 1.
    expect(counted).toHaveLength(3);
    expect(counted.every((r) => r.project_id === project && r.value === '1' && r.sign === '1' && r.time >= '2027-05-10T05:00:00' && r.time < '2028-05-10T05:00:00')).toBe(true);
    expect(new Set(counted.map((r) => r.event_id)).size).toBe(3);
    const close = figures(rows);
    expect(close['total counted']).toBe(counted.reduce((sum, r) => sum + Number(r.value) * Number(r.sign), 0));
    expect(close).toMatchObject({ 'total counted': 3, 'included in the plan': 1, 'over the included': 2, 'unit size': 1, 'units billed': overage.lines[0]!.quantity });

    // An export that finished in the closed year, its usage recorded only after the close (the platform late):
    // the usage service records an adjustment, invoice bills it, and its line lists that one export.
    const late = { id: 'late-export-0001', type: 'curbmap.export.completed', projectId: project, time: '2028-05-10T04:30:00.000Z', data: { rows: 1, bytes: 100 } };
    const ingested = await ingestUsage(p.ctx, { commandId: 'late-export', now: clock.toISOString(), organizationId: org.id }, { items: [late], restrictedTo: null, source: 'platform' });
    expect(ingested.accepted).toHaveLength(1);
    await p.settle();
    const adjusted = await overageOf('Overage adjustment export_jobs');
    expect(adjusted.lines).toEqual([expect.objectContaining({ quantity: 1, meter: 'export_jobs' })]);
    const lateRows = parse((await call('GET', `/v1/invoices/${adjusted.id}/lines/1/usage.csv`)).body);
    expect(lateRows.filter((r) => r.event_id !== '')).toEqual([expect.objectContaining({ event_id: late.id, time: late.time, project_id: project, value: '1', sign: '1' })]);
    expect(figures(lateRows)).toMatchObject({ 'total billed before': 3, change: 1, 'total after': 4, 'units before': 2, 'units after': 3, 'units billed': adjusted.lines[0]!.quantity });
    // The close's file is as it was: the late export is the adjustment's, not the close's.
    expect((await call('GET', `/v1/invoices/${overage.id}/lines/1/usage.csv`)).body).toBe(csv.body);

    // Only the organization's own invoices, and only lines that bill usage.
    const other = await p.createOrganization('Shelbyville');
    const refused = await call('GET', `/v1/invoices/${overage.id}/lines/1/usage.csv`, undefined, { authorization: `Bearer ${other.apiKey}` });
    expect(refused.statusCode).toBe(404);
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await call('GET', `/v1/invoices/${overage.id}/lines/2/usage.csv`)).statusCode).toBe(404);
    const fee = ((await call('GET', '/v1/invoices')).json().data as Invoice[]).find((i) => i.lines.every((l) => !l.meter))!;
    const noUsage = await call('GET', `/v1/invoices/${fee.id}/lines/1/usage.csv`);
    expect(noUsage.statusCode).toBe(404);
    expect(noUsage.json().detail).toMatch(/bills no usage/);
    expect((await call('GET', `/v1/invoices/${overage.id}/lines/0/usage.csv`)).statusCode).toBe(400);
    const restricted = (await call('POST', '/v1/api-keys', { name: 'project only', role: 'read_only', projectId: project })).json().key as string;
    expect((await call('GET', `/v1/invoices/${overage.id}/lines/1/usage.csv`, undefined, { authorization: `Bearer ${restricted}` })).statusCode).toBe(403);
  });

  it('counts at the close exactly what it counted through: usage appended while it computed is its own adjustment\'s line', async () => {
    const org = await p.createOrganization('City of Ogdenville', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const call = (method: 'GET' | 'POST', url: string, payload?: object) => p.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    const project = (await call('POST', '/v1/projects', { name: 'Harbor' })).json().id as string;
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    const exportItem = (id: string, time: string) => ({ id, type: 'curbmap.export.completed', projectId: project, time, data: { rows: 1, bytes: 100 } });
    const record = (id: string, time: string) => ingestUsage(p.ctx, { commandId: `record-${id}`, now: clock.toISOString(), organizationId: org.id }, { items: [exportItem(id, time)], restrictedTo: null, source: 'platform' });
    clock = new Date('2027-09-01T12:00:00Z');
    for (const id of ['x-1', 'x-2', 'x-3']) expect((await record(id, '2027-09-01T12:00:00.000Z')).accepted).toHaveLength(1);
    clock = new Date('2028-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();

    // The close reads the log's head (its second read: the first waits for the years' history), then an export of
    // the closed year is recorded before the close is appended.
    clock = new Date('2028-05-10T06:01:00Z');
    let heads = -1;
    const store = new Proxy(p.ctx.store, {
      get(target, key) {
        if (key === 'headPosition') {
          return async () => {
            const head = await target.headPosition();
            if (heads++ === 0) {
              expect((await record('x-4', '2028-05-10T04:40:00.000Z')).accepted).toHaveLength(1);
              // Rolled up before the close reads the rollups: they hold it, the close's count must not.
              await p.settle();
            }
            return head;
          };
        }
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    expect(await closeDuePeriods({ ...p.ctx, store }, usagePricing(p.ctx), clock)).toBe(1);
    await p.settle();
    const invoices = (await call('GET', '/v1/invoices')).json().data as Invoice[];
    const closeInvoice = invoices.find((i) => i.lines.some((l) => l.description.startsWith('Overage export_jobs')))!;
    const adjustment = invoices.find((i) => i.lines.some((l) => l.description.startsWith('Overage adjustment export_jobs')))!;
    // The close bills the three it counted (two over the one included), its adjustment the fourth.
    expect(closeInvoice.lines[0]).toMatchObject({ quantity: 2 });
    expect(adjustment.lines[0]).toMatchObject({ quantity: 1 });
    const closeRows = parse((await call('GET', `/v1/invoices/${closeInvoice.id}/lines/1/usage.csv`)).body);
    expect(closeRows.filter((r) => r.event_id !== '').map((r) => r.event_id)).toEqual(['x-1', 'x-2', 'x-3']);
    expect(figures(closeRows)).toMatchObject({ 'total counted': 3, 'units billed': 2 });
    expect(closeRows.some((r) => /differs/.test(r.note))).toBe(false);
    const adjustmentRows = parse((await call('GET', `/v1/invoices/${adjustment.id}/lines/1/usage.csv`)).body);
    expect(adjustmentRows.filter((r) => r.event_id !== '').map((r) => r.event_id)).toEqual(['x-4']);
    expect(figures(adjustmentRows)).toMatchObject({ 'total billed before': 3, change: 1, 'total after': 4, 'units billed': 1 });
  });
});
