import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

/**
 * Random streams of batches (with duplicate ids, retried batches, late events), voids and amendments: every
 * rollup equals a recomputation, written here independently, from the distinct events that survive.
 */
const NOW = new Date('2027-05-10T12:00:00Z');
const ZONE = 'America/Chicago';
let p: TestPlatform;
beforeAll(async () => {
  p = await startTestPlatform({ now: () => NOW });
});
afterAll(() => p.close());

type Item = { id: string; type: 'tile.served' | 'zone.edited'; project: 0 | 1; time: string; data: { bytes: number; user: string } };
type Op = { kind: 'batch'; items: Item[] } | { kind: 'retry'; of: number } | { kind: 'void'; id: string } | { kind: 'amend'; id: string; bytes: number };

const ids = fc.constantFrom('e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8');
const item: fc.Arbitrary<Item> = fc.record({
  id: ids,
  type: fc.constantFrom('tile.served' as const, 'zone.edited' as const),
  project: fc.constantFrom(0 as const, 1 as const),
  // Up to 30 days late, to the minute.
  time: fc.integer({ min: 0, max: 30 * 24 * 60 }).map((m) => new Date(NOW.getTime() - m * 60_000).toISOString()),
  data: fc.record({ bytes: fc.integer({ min: 0, max: 1_000_000 }), user: fc.constantFrom('ann', 'bob', 'cy') }),
});
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.array(item, { minLength: 1, maxLength: 6 }).map((items) => ({ kind: 'batch' as const, items })) },
  { weight: 1, arbitrary: fc.nat(20).map((of) => ({ kind: 'retry' as const, of })) },
  { weight: 2, arbitrary: ids.map((id) => ({ kind: 'void' as const, id })) },
  { weight: 2, arbitrary: fc.tuple(ids, fc.integer({ min: 0, max: 1_000_000 })).map(([id, bytes]) => ({ kind: 'amend' as const, id, bytes })) },
);

const localDay = (iso: string) => new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));

/** The reference: which events survive, with what data. */
function survivors(ops: Op[]): Item[] {
  const recorded = new Map<string, Item>();
  const voided = new Set<string>();
  const batches: Item[][] = [];
  for (const o of ops) {
    const items = o.kind === 'batch' ? o.items : o.kind === 'retry' ? (batches[o.of % Math.max(1, batches.length)] ?? []) : [];
    if (o.kind === 'batch') batches.push(o.items);
    for (const i of items) if (!recorded.has(i.id)) recorded.set(i.id, structuredClone(i));
    if (o.kind === 'void' && recorded.has(o.id)) voided.add(o.id);
    if (o.kind === 'amend' && recorded.has(o.id) && !voided.has(o.id)) recorded.get(o.id)!.data = { bytes: o.bytes, user: 'ann' };
  }
  return [...recorded.values()].filter((i) => !voided.has(i.id));
}

const aggregations: Record<string, (items: Item[]) => number | null> = {
  edits: (items) => items.filter((i) => i.type === 'zone.edited').length,
  bytes: (items) => items.filter((i) => i.type === 'tile.served').reduce((a, i) => a + i.data.bytes, 0),
  peak: (items) => {
    const served = items.filter((i) => i.type === 'tile.served');
    return served.length ? Math.max(...served.map((i) => i.data.bytes)) : null;
  },
  users: (items) => new Set(items.filter((i) => i.type === 'tile.served').map((i) => i.data.user)).size,
  last: (items) => {
    const served = items.filter((i) => i.type === 'tile.served').sort((a, b) => (a.time === b.time ? a.id.localeCompare(b.id) : a.time.localeCompare(b.time)));
    return served.length ? served[served.length - 1]!.data.bytes : null;
  },
};

describe('usage rollups (property)', () => {
  it('equal an independent recomputation from the surviving events, after duplicates, retries, late events, voids and amendments', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        run += 1;
        const org = await p.createOrganization(`Org ${run}`, { timeZone: ZONE });
        const headers = { authorization: `Bearer ${org.apiKey}` };
        const call = (method: 'GET' | 'POST', url: string, payload?: object) => p.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
        const projects = [(await call('POST', '/v1/projects', { name: 'A' })).json().id, (await call('POST', '/v1/projects', { name: 'B' })).json().id];
        for (const [key, aggregation, eventType, valueProperty] of [['edits', 'count', 'zone.edited'], ['bytes', 'sum', 'tile.served', 'bytes'], ['peak', 'max', 'tile.served', 'bytes'], ['users', 'unique_count', 'tile.served', 'user'], ['last', 'latest', 'tile.served', 'bytes']] as const) {
          await call('POST', '/v1/meters', { key, name: key, eventType, aggregation, ...(valueProperty ? { valueProperty } : {}) });
        }
        await call('POST', '/v1/meters', { key: 'byuser', name: 'byuser', eventType: 'tile.served', aggregation: 'sum', valueProperty: 'bytes', groupBy: ['user'] });
        const sent: object[][] = [];
        for (const o of ops) {
          if (o.kind === 'batch' || o.kind === 'retry') {
            const batch = o.kind === 'batch' ? o.items.map((i) => ({ id: i.id, type: i.type, projectId: projects[i.project], time: i.time, data: i.data })) : (sent[o.of % Math.max(1, sent.length)] ?? []);
            if (o.kind === 'batch') sent.push(batch);
            if (batch.length) expect((await call('POST', '/v1/usage/events', batch)).statusCode).toBe(200);
          } else {
            const res = await call('POST', `/v1/usage/events/${o.id}/${o.kind}`, o.kind === 'amend' ? { data: { bytes: o.bytes, user: 'ann' } } : undefined);
            expect([200, 404, 409]).toContain(res.statusCode);
          }
        }
        await p.settle();
        const expected = survivors(ops);
        // Grouped by a data property: each user's bytes.
        const byUser = (await call('GET', '/v1/usage/summary?meter=byuser&from=2027-04-01T00:00:00Z&to=2027-05-11T00:00:00Z&window=month&groupBy=user')).json();
        const served = expected.filter((i) => i.type === 'tile.served');
        const want = Object.fromEntries([...new Set(served.map((i) => i.data.user))].map((u) => [u, served.filter((i) => i.data.user === u).reduce((a, i) => a + i.data.bytes, 0)]));
        const got = Object.fromEntries((byUser.series as { group: { user: string } | null; total: number }[]).filter((x) => x.group && x.total !== 0).map((x) => [x.group!.user, x.total]));
        expect(got, 'bytes by user').toEqual(Object.fromEntries(Object.entries(want).filter(([, v]) => v !== 0)));
        for (const [meter, compute] of Object.entries(aggregations)) {
          const type = meter === 'edits' ? 'zone.edited' : 'tile.served';
          const summary = (await call('GET', `/v1/usage/summary?meter=${meter}&from=2027-04-01T00:00:00Z&to=2027-05-11T00:00:00Z&window=day&groupBy=project`)).json();
          expect(summary.total, `${meter} total`).toEqual(compute(expected));
          const series = new Map((summary.series as { projectId: string | null; points: { start: string; value: number | null }[] }[]).map((x) => [x.projectId, x.points]));
          for (const project of [0, 1] as const) {
            const mine = expected.filter((i) => i.project === project);
            const points = series.get(projects[project]) ?? [];
            const days = new Set(points.map((x) => localDay(x.start)));
            for (const i of mine.filter((x) => x.type === type)) expect(days.has(localDay(i.time)), `${meter}: a point on ${localDay(i.time)}`).toBe(true);
            for (const point of points) {
              const day = localDay(point.start);
              expect(point.value, `${meter} on ${day}`).toEqual(compute(mine.filter((i) => localDay(i.time) === day)));
            }
          }
        }
      }),
      { numRuns: 25, seed: 20261126 },
    );
  }, 120_000);
});
