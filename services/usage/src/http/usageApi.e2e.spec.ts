import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';
import { ingestUsage } from '../application/usageCommands.ts';

let p: TestPlatform;
let clock: Date;
let org: { id: string; apiKey: string };
let project: string;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

beforeEach(async () => {
  clock = new Date('2027-05-10T12:00:00Z');
  p = await startTestPlatform({ now: () => clock });
  org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
  project = (await call('POST', '/v1/projects', { name: 'Downtown' })).json().id;
  expect((await call('POST', '/v1/meters', { key: 'zone_edits', name: 'Zone edits', eventType: 'zone.edited', aggregation: 'count' })).statusCode).toBe(201);
  expect((await call('POST', '/v1/meters', { key: 'bytes_served', name: 'Bytes', eventType: 'tile.served', aggregation: 'sum', valueProperty: 'bytes' })).statusCode).toBe(201);
});
afterEach(() => p.close());

function call(method: 'GET' | 'POST', url: string, payload?: unknown, key = org.apiKey): Promise<LightMyRequestResponse> {
  return p.app.inject({ method, url, headers: bearer(key), ...(payload === undefined ? {} : { payload: payload as object }) });
}
function problem(res: LightMyRequestResponse, status: number, detail?: RegExp) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  if (detail) expect(res.json().detail).toMatch(detail);
}
const served = (id: string, bytes: number, time = '2027-05-10T11:00:00Z', projectId = project) => ({ id, type: 'tile.served', projectId, time, data: { bytes } });
const summary = async (meter: string, extra = '') => {
  await p.settle();
  const res = await call('GET', `/v1/usage/summary?meter=${meter}&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z${extra}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('usage ingestion', () => {
  it('accepts the valid items of a batch, reports duplicates and rejections with reasons, and counts each event once', async () => {
    const other = await p.createOrganization('Shelbyville');
    const otherProject = (await call('POST', '/v1/projects', { name: 'Theirs' }, other.apiKey)).json().id;
    const batch = [
      served('a', 100),
      served('b', 250),
      served('a', 999), // the same id again in one batch
      { id: 'c', type: 'tile.served', projectId: project, data: { bytes: 'lots' } },
      { id: 'd', type: 'unknown.type', projectId: project, data: {} },
      served('e', 1, '2027-04-01T00:00:00Z'), // 39 days old
      served('f', 1, '2027-05-10T12:06:00Z'), // 6 minutes ahead
      served('g', 1, undefined, otherProject),
      { type: 'tile.served', projectId: project, data: { bytes: 1 } },
      { id: 'h', type: 'zone.edited', projectId: project, data: {} }, // no time: now
    ];
    const res = await call('POST', '/v1/usage/events', batch);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 3, duplicates: [{ index: 2, id: 'a' }] });
    const reasons = Object.fromEntries(res.json().rejected.map((r: { index: number; reason: string }) => [r.index, r.reason]));
    expect(reasons).toMatchObject({ 3: expect.stringMatching(/data.bytes must be an integer/), 4: expect.stringMatching(/no meter measures events of type unknown.type/), 5: 'time is more than 35 days old', 6: 'time is more than 5 minutes in the future', 7: expect.stringMatching(/not found/), 8: expect.stringMatching(/must have required property 'id'/) });
    expect(Object.keys(reasons)).toHaveLength(6);

    // The same batch again (a client retry): nothing more counts.
    const retry = await call('POST', '/v1/usage/events', batch);
    expect(retry.json()).toMatchObject({ accepted: 0 });
    expect(retry.json().duplicates.map((d: { id: string }) => d.id)).toEqual(['a', 'b', 'a', 'h']);
    expect((await summary('bytes_served')).total).toBe(350);
    expect((await summary('zone_edits')).total).toBe(1);
  });

  it('answers a request sent again after its answer was lost (the same command) as it first did: accepted, not duplicates of itself', async () => {
    const meta = { commandId: 'idem-key-7', now: clock.toISOString(), organizationId: org.id };
    const items = [served('s1', 10), served('s2', 20)];
    const first = await ingestUsage(p.ctx, meta, { items, restrictedTo: null, source: 'client' });
    expect(first).toEqual({ accepted: [{ index: 0, id: 's1' }, { index: 1, id: 's2' }], duplicates: [], rejected: [] });
    // The crash came after the append and before the answer was kept: the command runs again.
    expect(await ingestUsage(p.ctx, meta, { items, restrictedTo: null, source: 'client' })).toEqual(first);
    // Another command with the same ids: those are duplicates.
    const other = await ingestUsage(p.ctx, { ...meta, commandId: 'idem-key-8' }, { items: [served('s2', 20), served('s3', 5)], restrictedTo: null, source: 'client' });
    expect(other).toEqual({ accepted: [{ index: 1, id: 's3' }], duplicates: [{ index: 0, id: 's2' }], rejected: [] });
    expect((await summary('bytes_served')).total).toBe(35);
  });

  it('refuses a body that is not a request at all, storing nothing; a single rejected event is a 422', async () => {
    const before = await p.eventCount();
    problem(await p.app.inject({ method: 'POST', url: '/v1/usage/events', headers: { ...bearer(org.apiKey), 'content-type': 'application/json' }, payload: 'not json at all' }), 400);
    problem(await call('POST', '/v1/usage/events', 42), 400);
    problem(await call('POST', '/v1/usage/events', []), 400);
    problem(await call('POST', '/v1/usage/events', Array.from({ length: 1001 }, (_, i) => served(`x${i}`, 1))), 400);
    problem(await call('POST', '/v1/usage/events', served('x', -0.5)), 422, /integer/);
    expect(await p.eventCount()).toBe(before);
    const single = await call('POST', '/v1/usage/events', served('one', 10));
    expect(single.json()).toEqual({ accepted: 1, duplicates: [], rejected: [] });
    expect((await call('POST', '/v1/usage/events', served('one', 10))).json()).toEqual({ accepted: 0, duplicates: [{ index: 0, id: 'one' }], rejected: [] });
  });

  it('keeps a project-restricted key to its project and one organization out of another\'s usage', async () => {
    const scoped = (await call('POST', '/v1/api-keys', { name: 'field', role: 'member', projectId: project })).json().key;
    const elsewhere = (await call('POST', '/v1/projects', { name: 'Uptown' })).json().id;
    const res = await call('POST', '/v1/usage/events', [served('p1', 5), served('p2', 7, undefined, elsewhere)], scoped);
    expect(res.json()).toMatchObject({ accepted: 1, rejected: [{ index: 1, reason: expect.stringMatching(/restricted to project/) }] });
    await call('POST', '/v1/usage/events', [served('p3', 11, undefined, elsewhere)]);
    await p.settle();
    const mine = (await call('GET', '/v1/usage/summary?meter=bytes_served&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z', undefined, scoped)).json();
    expect(mine.total).toBe(5);
    const other = await p.createOrganization('Shelbyville');
    problem(await call('GET', '/v1/usage/summary?meter=bytes_served&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z', undefined, other.apiKey), 404, /meter/);
    expect((await call('GET', '/v1/usage/summary?meter=api_requests&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z', undefined, other.apiKey)).json().total).toBe(0);
    problem(await call('POST', '/v1/usage/events/p3/void', undefined, other.apiKey), 404);
    // Nor can a key restricted to one project correct another project's event.
    problem(await call('POST', '/v1/usage/events/p3/void', undefined, scoped), 404);
    problem(await call('POST', '/v1/usage/events/p3/amend', { data: { bytes: 1 } }, scoped), 404);
    expect((await summary('bytes_served')).total).toBe(16);
  });
});

describe('corrections', () => {
  it('voids and amends an event; rollups follow; a voided event takes no more corrections', async () => {
    await call('POST', '/v1/usage/events', [served('v1', 100), served('v2', 40), served('v3', 2)]);
    expect((await summary('bytes_served')).total).toBe(142);
    const amended = await call('POST', '/v1/usage/events/v2/amend', { data: { bytes: 45 } });
    expect(amended.statusCode, amended.body).toBe(200);
    expect(amended.json()).toEqual({ id: 'v2', status: 'counted', data: { bytes: 45 } });
    expect((await call('POST', '/v1/usage/events/v1/void')).json()).toMatchObject({ id: 'v1', status: 'voided' });
    expect((await call('POST', '/v1/usage/events/v1/void')).statusCode).toBe(200);
    problem(await call('POST', '/v1/usage/events/v1/amend', { data: { bytes: 1 } }), 409, /voided/);
    problem(await call('POST', '/v1/usage/events/v2/amend', { data: { bytes: 'x' } }), 422, /integer/);
    problem(await call('POST', '/v1/usage/events/nope/void'), 404, /usage event/);
    expect((await summary('bytes_served')).total).toBe(47);
  });

  it('corrects an event whose id is as long as ingestion allows (200 characters, any script)', async () => {
    for (const id of ['x'.repeat(200), 'é'.repeat(200), '🚗'.repeat(100)]) {
      expect((await call('POST', '/v1/usage/events', [served(id, 5)])).json()).toMatchObject({ accepted: 1 });
      const voided = await call('POST', `/v1/usage/events/${encodeURIComponent(id)}/void`);
      expect(voided.statusCode, voided.body).toBe(200);
      expect(voided.json()).toMatchObject({ id, status: 'voided' });
    }
    problem(await call('POST', `/v1/usage/events/${'x'.repeat(201)}/void`), 400, /200/);
  });

  it('refuses to void or amend the platform\'s own measurements, as ingestion refuses to take them', async () => {
    await call('GET', '/v1/projects');
    await p.modules.usage.apiRequests!.flush();
    await p.settle();
    let platformItem: { id: string; type: string } | undefined;
    for await (const e of p.ctx.store.readAll({ filter: { types: ['usage.events.recorded'] } })) {
      if (e.organizationId === org.id) platformItem ??= (e.data as { items: { id: string; type: string }[] }).items.find((i) => i.type === 'curbmap.api.request');
    }
    expect(platformItem).toBeDefined();
    const before = await p.eventCount();
    problem(await call('POST', `/v1/usage/events/${platformItem!.id}/void`), 422, /platform's own measurements/);
    problem(await call('POST', `/v1/usage/events/${platformItem!.id}/amend`, { data: { requests: 1_000_000 } }), 422, /platform's own measurements/);
    expect(await p.eventCount()).toBe(before);
  });
});

describe('meters and summaries', () => {
  it('lists built-in and own meters, refuses a conflicting or reserved definition, and rolls up by the organization\'s hours, days and months', async () => {
    const list = (await call('GET', '/v1/meters')).json().data.map((m: { key: string; builtIn: boolean }) => `${m.key}:${m.builtIn}`);
    expect(list).toEqual(expect.arrayContaining(['api_requests:true', 'export_jobs:true', 'curb_zones:true', 'zone_edits:false', 'bytes_served:false']));
    problem(await call('POST', '/v1/meters', { key: 'api_requests', name: 'x', eventType: 'x', aggregation: 'count' }), 409, /built in/);
    // A groupBy property the event schema would refuse is refused at the door (it answered 500), nothing written.
    const before = await p.eventCount();
    for (const groupBy of [["a'b"], [' '], ['1st'], ['a..b']]) problem(await call('POST', '/v1/meters', { key: 'odd', name: 'Odd', eventType: 'odd.thing', aggregation: 'count', groupBy }), 400, /groupBy/);
    expect(await p.eventCount()).toBe(before);
    problem(await call('POST', '/v1/meters', { key: 'zone_edits', name: 'Other', eventType: 'zone.edited', aggregation: 'count' }), 409, /another definition/);
    problem(await call('POST', '/v1/meters', { key: 'peak', name: 'Peak', eventType: 'tile.served', aggregation: 'max' }), 422, /valueProperty/);
    expect((await call('POST', '/v1/meters', { key: 'peak', name: 'Peak', eventType: 'tile.served', aggregation: 'max', valueProperty: 'bytes' })).statusCode).toBe(201);
    expect((await call('GET', '/v1/meters/peak')).json()).toMatchObject({ aggregation: 'max', valueProperty: 'bytes', builtIn: false });

    // Chicago is UTC-5 in May: 04:30Z on 10 May is still 9 May there.
    await call('POST', '/v1/usage/events', [served('m1', 10, '2027-05-10T04:30:00Z'), served('m2', 30, '2027-05-10T05:30:00Z'), served('m3', 20, '2027-05-10T05:45:00Z')]);
    const byDay = await summary('bytes_served', '&window=day');
    expect(byDay.timeZone).toBe('America/Chicago');
    expect(byDay.series[0].points).toEqual([{ start: '2027-05-09T05:00:00.000Z', value: 10 }, { start: '2027-05-10T05:00:00.000Z', value: 50 }]);
    const byHour = await summary('peak', '&window=hour');
    expect(byHour.series[0].points.map((x: { value: number }) => x.value)).toEqual([10, 30]);
    expect(byHour.total).toBe(30);
    const inUtc = await summary('bytes_served', '&window=day&timeZone=UTC');
    expect(inUtc.series[0].points).toEqual([{ start: '2027-05-10T00:00:00.000Z', value: 60 }]);
    problem(await call('GET', '/v1/usage/summary?meter=bytes_served&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z&timeZone=Asia/Kolkata'), 422, /other minutes/);
    problem(await call('GET', '/v1/usage/summary?meter=bytes_served&from=2027-06-01T00:00:00Z&to=2027-05-01T00:00:00Z'), 422, /after/);
    const csv = await call('GET', '/v1/usage/report.csv?meter=bytes_served&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z&window=day&groupBy=project');
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.body).toBe(`meter,project_id,group,window_start,value\nbytes_served,${project},,2027-05-09T05:00:00.000Z,10\nbytes_served,${project},,2027-05-10T05:00:00.000Z,50\n`);
    problem(await call('GET', '/v1/usage/report.csv?meter=nope&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z'), 404);
    const grouped = await summary('bytes_served', '&groupBy=project&window=month');
    expect(grouped.series).toEqual([{ projectId: project, group: null, total: 60, points: [{ start: '2027-05-01T05:00:00.000Z', value: 60 }] }]);
  });

  it('rolls up by a meter\'s groupBy properties, exactly after corrections', async () => {
    expect((await call('POST', '/v1/meters', { key: 'bytes_by_user', name: 'Bytes by user', eventType: 'tile.served', aggregation: 'sum', valueProperty: 'bytes', groupBy: ['user', 'tile.zoom'] })).statusCode).toBe(201);
    const tile = (id: string, bytes: number, user: string | undefined, zoom: number) => ({ id, type: 'tile.served', projectId: project, time: '2027-05-10T11:00:00Z', data: { bytes, ...(user ? { user } : {}), tile: { zoom } } });
    await call('POST', '/v1/usage/events', [tile('g1', 10, 'ann', 12), tile('g2', 20, 'bob', 12), tile('g3', 5, 'ann', 14), tile('g4', 7, undefined, 14)]);
    await call('POST', '/v1/usage/events/g3/amend', { data: { bytes: 6, user: 'bob', tile: { zoom: 14 } } });
    const byUser = await summary('bytes_by_user', '&groupBy=user&window=month');
    expect(byUser.series.map((x: { group: object; total: number }) => [x.group, x.total])).toEqual([[{ user: 'ann' }, 10], [{ user: 'bob' }, 26], [{ user: null }, 7]]);
    const byZoom = await summary('bytes_by_user', '&groupBy=tile.zoom&window=month');
    expect(byZoom.series.map((x: { group: object; total: number }) => [x.group, x.total])).toEqual([[{ 'tile.zoom': 12 }, 30], [{ 'tile.zoom': 14 }, 13]]);
    expect(byZoom.total).toBe(43);
    problem(await call('GET', '/v1/usage/summary?meter=bytes_by_user&from=2027-05-01T00:00:00Z&to=2027-06-01T00:00:00Z&groupBy=country'), 422, /groups by user, tile.zoom/);
  });
});
