import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { CDS_EXAMPLES, cdsModelValidator, cdsResponseValidator, describeErrors } from '../domain/cds/cdsOpenApi.fixture.ts';

let p: TestPlatform;
let org: { id: string; apiKey: string };
let projects: string[];
const clock = new Date('2027-05-10T12:00:00Z');

const get = (url: string, key = org.apiKey, headers: Record<string, string> = {}) => p.app.inject({ url, headers: { authorization: `Bearer ${key}`, ...headers } });
const post = (url: string, payload: unknown, key = org.apiKey) => p.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
const zone = (i: number, lng: number, lat: number, extra: Record<string, unknown> = {}) => ({
  curb_zone_id: `a1000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  geometry: { type: 'Polygon', coordinates: [[[lng, lat], [lng + 0.0002, lat], [lng + 0.0002, lat + 0.0001], [lng, lat]]] },
  curb_policy_ids: [],
  published_date: 1700000000000,
  last_updated_date: 1700000000000,
  start_date: 1700000000000,
  ...extra,
});

beforeEach(async () => {
  p = await startTestPlatform({ now: () => clock });
  org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
  projects = [];
  for (const name of ['Downtown', 'Harbour']) projects.push((await post('/v1/projects', { name })).json().id);
  // Downtown: five zones along a street in Chicago; Harbour: one far away.
  const downtown = Array.from({ length: 5 }, (_, i) => zone(i, -87.63 + i * 0.001, 41.88, i === 4 ? { end_date: 1750000000000 } : {}));
  expect((await post(`/v1/projects/${projects[0]}/curbs/import`, { version: '1.1', data: { zones: downtown } })).statusCode).toBe(201);
  expect((await post(`/v1/projects/${projects[1]}/curbs/import`, { version: '1.1', data: { zones: [zone(9, -87.5, 41.7)] } })).statusCode).toBe(201);
});
afterEach(() => p.close());

function cds(res: LightMyRequestResponse) {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toBe('application/vnd.cds+json;version=1.1');
  return res.json();
}

describe('live CDS 1.1 feed', () => {
  it('serves the Curbs API as the official OpenAPI describes it, paginated with links.next, and filtered by bbox, radius and time', async () => {
    const validZones = cdsResponseValidator('Curbs API', '/curbs/zones');
    const first = cds(await get('/cds/1.1/curbs/zones?limit=4'));
    expect(validZones(first), describeErrors(validZones)).toBe(true);
    expect(first).toMatchObject({ version: '1.1', time_zone: 'America/Chicago', currency: 'USD' });
    expect(first.data.zones).toHaveLength(4);
    const second = cds(await get(first.links.next));
    expect(second.data.zones).toHaveLength(2);
    expect(second.links.next).toBeNull();
    const box = cds(await get('/cds/1.1/curbs/zones?min_lat=41.87&max_lat=41.89&min_lng=-87.6305&max_lng=-87.6285'));
    expect(box.data.zones.map((z: { curb_zone_id: string }) => z.curb_zone_id.slice(-1))).toEqual(['0', '1']);
    const near = cds(await get('/cds/1.1/curbs/zones?lat=41.7&lng=-87.5&radius=50'));
    expect(near.data.zones.map((z: { curb_zone_id: string }) => z.curb_zone_id.slice(-1))).toEqual(['9']);
    // radius is in centimetres (CDS lengths), and the nearest come first: 0 m, 17 m, 83 m, 100 m; zone 0 is 183 m away.
    const ranked = cds(await get('/cds/1.1/curbs/zones?lat=41.88&lng=-87.627&radius=15000&limit=3'));
    expect(ranked.data.zones.map((z: { curb_zone_id: string }) => z.curb_zone_id.slice(-1))).toEqual(['3', '2', '4']);
    expect(cds(await get(ranked.links.next)).data.zones.map((z: { curb_zone_id: string }) => z.curb_zone_id.slice(-1))).toEqual(['1']);
    const at = cds(await get('/cds/1.1/curbs/zones?time=1760000000000&include_geometry=false'));
    expect(at.data.zones).toHaveLength(5);
    expect(at.data.zones[0].geometry).toBeUndefined();
    const one = cds(await get('/cds/1.1/curbs/zones/a1000000-0000-4000-8000-000000000001'));
    expect(one.data.curb_zone_id).toBe('a1000000-0000-4000-8000-000000000001');
    expect((await get('/cds/1.1/curbs/zones/a1000000-0000-4000-8000-000000000077')).statusCode).toBe(404);
    expect((await get('/cds/1.1/curbs/zones?min_lat=41')).statusCode).toBe(422);
  });

  it('negotiates the media type: 406 for a CDS version we do not serve', async () => {
    expect((await get('/cds/1.1/curbs/zones', org.apiKey, { accept: 'application/vnd.cds+json;version=1.1' })).statusCode).toBe(200);
    expect((await get('/cds/1.1/curbs/zones', org.apiKey, { accept: 'application/vnd.cds+json' })).statusCode).toBe(200);
    const refused = await get('/cds/1.1/curbs/zones', org.apiKey, { accept: 'application/vnd.cds+json;version=1.0' });
    expect(refused.statusCode).toBe(406);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    // The Metrics API serves CDS CSV: its own media type (and CSV) are acceptable, JSON alone is not.
    for (const accept of ['application/vnd.cds+csv;version=1.1', 'application/vnd.cds+csv', 'text/csv', '*/*']) {
      const res = await get('/cds/1.1/metrics/sessions', org.apiKey, { accept });
      expect(res.statusCode, accept).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/vnd\.cds\+csv;\s*version=1\.1/);
    }
    for (const accept of ['application/vnd.cds+csv;version=1.0', 'application/vnd.cds+json', 'text/csv;q=0', '*/*, application/vnd.cds+csv;q=0']) expect((await get('/cds/1.1/metrics/sessions', org.apiKey, { accept })).statusCode, accept).toBe(406);
    expect((await get('/cds/1.1/curbs/zones', org.apiKey, { accept: 'application/json, application/vnd.cds+json;version=1.1;q=0' })).statusCode).toBe(406);
    expect((await get('/cds/1.1/curbs/zones', org.apiKey, { accept: 'application/vnd.cds+json;version=1.0, */*;q=0.1' })).statusCode).toBe(200);
  });

  it('serves one project to a key restricted to it, and nothing of another organization', async () => {
    const restricted = await post('/v1/api-keys', { name: 'city partner', role: 'read_only', projectId: projects[1] });
    expect(restricted.statusCode, restricted.body).toBe(201);
    const partner = cds(await get('/cds/1.1/curbs/zones', restricted.json().key));
    expect(partner.data.zones.map((z: { curb_zone_id: string }) => z.curb_zone_id.slice(-1))).toEqual(['9']);
    expect((await get('/cds/1.1/curbs/zones/a1000000-0000-4000-8000-000000000001', restricted.json().key)).statusCode).toBe(404);
    const other = await p.createOrganization('Shelbyville');
    expect(cds(await get('/cds/1.1/curbs/zones', other.apiKey)).data.zones).toEqual([]);
    expect((await get('/cds/1.1/curbs/zones')).statusCode).toBe(200);
    expect((await p.app.inject({ url: '/cds/1.1/curbs/zones', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).statusCode).toBeGreaterThanOrEqual(401);
  });

  it('serves the Events API by hour, as CDS 1.1 events', async () => {
    const example = JSON.parse(readFileSync(`${CDS_EXAMPLES}/events_01_curb_event_minimum.json`, 'utf8'));
    expect((await post(`/v1/projects/${projects[0]}/curb-events`, example)).statusCode).toBe(201);
    const hour = new Date(Number(example.data.events[0].event_time)).toISOString().slice(0, 13);
    const events = cds(await get(`/cds/1.1/events/events?event_time=${hour}`));
    const validEvents = cdsResponseValidator('Events API', '/events/events');
    expect(validEvents(events), describeErrors(validEvents)).toBe(true);
    expect(events.data.events).toHaveLength(1);
    expect(cds(await get('/cds/1.1/events/events')).data.events).toEqual([]);
    expect(cds(await get(`/cds/1.1/events/events?event_time=${hour}&curb_zone_id=a1000000-0000-4000-8000-000000000001`)).data.events).toEqual([]);
  });

  it('serves the Metrics API as CSV with the spec\'s columns: sessions paired from events, hourly aggregates in the organization\'s zone', async () => {
    const zoneId = 'a1000000-0000-4000-8000-000000000000';
    const t0 = Date.parse('2027-05-10T09:10:00Z');
    const event = (i: number, type: string, minutes: number, session: string) => ({
      event_id: `b2000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      event_type: type,
      event_location: { type: 'Point', coordinates: [-87.63, 41.88] },
      event_time: t0 + minutes * 60_000,
      event_publication_time: t0 + minutes * 60_000 + 1000,
      event_session_id: session,
      curb_zone_id: zoneId,
      data_source_type: 'camera',
      data_source_device_id: 'cam-7',
      vehicle_type: 'van',
      vehicle_length: 520,
    });
    const [s1, s2, s3] = ['c3000000-0000-4000-8000-000000000001', 'c3000000-0000-4000-8000-000000000002', 'c3000000-0000-4000-8000-000000000003'];
    const events = [event(1, 'park_start', 0, s1), event(2, 'park_start', 5, s2), event(3, 'park_end', 20, s1), event(4, 'park_end', 45, s2), event(5, 'park_end', 48, s3)];
    expect((await post(`/v1/projects/${projects[0]}/curb-events`, { data: { events } })).statusCode).toBe(201);
    const range = `start_time=${t0 - 3_600_000}&end_time=${t0 + 3_600_000}`;
    const sessions = await get(`/cds/1.1/metrics/sessions?${range}`);
    expect(sessions.statusCode, sessions.body).toBe(200);
    expect(sessions.headers['content-type']).toBe('application/vnd.cds+csv;version=1.1');
    const [header, ...rows] = sessions.body.trim().split('\r\n').map((l) => l.split(','));
    // Every column is one the spec defines, and those of the spec's own example are all there.
    const sessionModel = cdsModelValidator('session.yaml').schema as { properties: Record<string, { type?: string }> };
    expect(header!.every((c) => c in sessionModel.properties)).toBe(true);
    const exampleHeader = readFileSync(`${CDS_EXAMPLES}/metrics_01_dynamic_sessions.csv`, 'utf8').split('\n')[0]!.trim().split(',');
    expect(exampleHeader.every((c) => header!.includes(c))).toBe(true);
    expect(rows).toHaveLength(2);
    const typed = rows.map((r) => Object.fromEntries(header!.map((c, i) => [c, r[i] === '' ? undefined : ['integer', 'number'].includes(sessionModel.properties[c]?.type ?? '') ? Number(r[i]) : r[i]]).filter(([, v]) => v !== undefined)));
    const validSession = cdsModelValidator('session.yaml');
    for (const row of typed) expect(validSession(row), describeErrors(validSession)).toBe(true);
    expect(typed.map((r) => [r['event_id_start'], r['event_id_end'], r['event_time_end']! as number - (r['event_time_start'] as number)])).toEqual([
      ['b2000000-0000-4000-8000-000000000001', 'b2000000-0000-4000-8000-000000000003', 20 * 60_000],
      ['b2000000-0000-4000-8000-000000000002', 'b2000000-0000-4000-8000-000000000004', 40 * 60_000],
    ]);
    const aggregates = await get(`/cds/1.1/metrics/aggregates?${range}&curb_place_type=zone`);
    expect(aggregates.statusCode, aggregates.body).toBe(200);
    const lines = aggregates.body.trim().split('\r\n');
    expect(lines[0]).toBe('curb_place_type,curb_place_id,metric_type,date,hour,value');
    // 09:10 UTC is 04:10 in Chicago (CDT): five events that hour, two sessions of 20 and 40 minutes.
    expect(lines.slice(1)).toEqual([`zone,${zoneId},total_events,2027-05-10,4,5`, `zone,${zoneId},total_sessions,2027-05-10,4,2`, `zone,${zoneId},average_dwell_time,2027-05-10,4,30`]);
    const validAggregate = cdsModelValidator('aggregate.yaml');
    for (const line of lines.slice(1)) {
      const [curb_place_type, curb_place_id, metric_type, date, hour, value] = line.split(',');
      expect(validAggregate({ curb_place_type, curb_place_id, metric_type, date, hour: Number(hour), value: Number(value) }), describeErrors(validAggregate)).toBe(true);
    }
    expect((await get(`/cds/1.1/metrics/aggregates?${range}&metric_type=total_sessions`)).body.trim().split('\r\n')).toHaveLength(2);
    expect((await get(`/cds/1.1/metrics/sessions?start_time=${t0}&end_time=${t0 - 1}`)).statusCode).toBe(422);
  });
});
