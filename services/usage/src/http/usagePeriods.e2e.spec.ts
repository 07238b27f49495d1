import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDatabase, SqliteEventStore, SqliteReadStore } from '@curbmap/eventsourcing';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { usageStream } from '../application/usageCommands.ts';
import { correctionStream } from '../domain/corrections/correctionDecider.ts';
import { aYearEnded, closedEdits, type Clock } from './usagePeriods.fixture.ts';

let p: TestPlatform;
const clock: Clock = { at: new Date('2027-05-10T12:00:00Z') };
beforeEach(async () => {
  clock.at = new Date('2027-05-10T12:00:00Z');
  p = await startTestPlatform({ now: () => clock.at });
});
afterEach(() => p.close());

describe('usage periods', () => {
  it('close at the year\'s end plus the grace period with final totals; later usage becomes adjustments, never a silent change', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, h = headers) => p.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
    const project = (await call('POST', '/v1/projects', { name: 'P' })).json().id;
    await call('POST', '/v1/meters', { key: 'edits', name: 'Edits', eventType: 'zone.edited', aggregation: 'count' });
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    // The year runs from local midnight: 2027-05-10T05:00Z to 2028-05-10T05:00Z (Chicago, CDT).
    const edit = (id: string, time: string) => call('POST', '/v1/usage/events', { id, type: 'zone.edited', projectId: project, time, data: {} });
    const close = async () => (await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed;
    const periods = async () => {
      await p.settle();
      return (await call('GET', '/v1/usage/periods')).json().data;
    };

    clock.at = new Date('2028-05-10T04:00:00Z');
    for (const id of ['a', 'b', 'c']) expect((await edit(id, '2028-05-10T03:30:00Z')).statusCode).toBe(200);
    clock.at = new Date('2028-05-10T05:00:00Z');
    expect(await p.modules.billing.scheduler!.tick(clock.at)).toMatchObject({ renewed: 1 });
    await expect(call('PUT', `/v1/admin/organizations/${org.id}/usage-settings`, { gracePeriodMinutes: 90 }, headers)).resolves.toMatchObject({ statusCode: 401 });
    expect((await call('PUT', `/v1/admin/organizations/${org.id}/usage-settings`, { gracePeriodMinutes: 90 }, admin)).statusCode).toBe(200);
    await p.settle();

    // Within the grace period a late event still counts in the year it belongs to.
    clock.at = new Date('2028-05-10T06:10:00Z');
    expect(await close()).toBe(0);
    await edit('late-1', '2028-05-10T04:50:00Z');
    clock.at = new Date('2028-05-10T06:31:00Z');
    expect(await close()).toBe(1);
    expect(await close()).toBe(0);
    let [, first] = await periods();
    expect(first).toMatchObject({ periodStart: '2027-05-10T05:00:00.000Z', closed: true, adjustments: [] });
    expect(first.totals.find((t: { meter: string }) => t.meter === 'edits')).toEqual({ meter: 'edits', aggregation: 'count', total: 4, included: null });
    expect(first.totals.find((t: { meter: string }) => t.meter === 'api_requests')).toMatchObject({ included: 10_000_000 });

    // After the close: a late event and a void are adjustments; usage of the new year is not.
    await edit('late-2', '2028-05-10T04:55:00Z');
    await edit('new-year', '2028-05-10T05:30:00Z');
    await call('POST', '/v1/usage/events/a/void');
    const [current, closed] = await periods();
    expect(current).toMatchObject({ periodStart: '2028-05-10T05:00:00.000Z', closed: false });
    expect(closed.adjustments.map((a: { meter: string; previousTotal: number; total: number; delta: number }) => [a.meter, a.previousTotal, a.total, a.delta])).toEqual([
      ['edits', 4, 5, 1],
      ['edits', 5, 4, -1],
    ]);
    expect(closed.totals.find((t: { meter: string }) => t.meter === 'edits').total).toBe(4);
    const types: string[] = [];
    for await (const e of p.ctx.store.readStream(`usageperiod-${org.id}`)) types.push(e.type);
    expect(types).toEqual(['usage.period.closed', 'usage.adjustment.recorded', 'usage.adjustment.recorded']);
  });
});

describe('usage periods, when the rollups are ahead of the adjustments', () => {
  it('a late event and its void are two adjustments even if both are rolled up before either is compared', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-periods-'));
    try {
      const year = await aYearEnded(clock, 'City of Shelbyville', { dataDir });
      let q = year.q;
      const { org, project, call } = year;
      clock.at = new Date('2028-05-10T06:30:00Z');
      expect((await call(q, 'POST', '/v1/admin/usage/close-periods', undefined, { authorization: `Bearer ${TEST_ADMIN_TOKEN}` })).json().closed).toBe(1);
      await q.settle();
      await q.close();

      // While the platform is down, a late event and its void reach the log: on restart the rollups take both in
      // one batch, before the adjustments process compares the first.
      const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
      const store = new SqliteEventStore(database);
      const item = { id: 'late', type: 'zone.edited', projectId: project, time: '2028-05-10T04:55:00.000Z', data: {} };
      const envelope = { occurredAt: clock.at.toISOString(), organizationId: org.id };
      await store.append(usageStream(org.id), [{ id: randomUUID(), type: 'usage.events.recorded', data: { items: [item], timeZone: 'America/Chicago' }, ...envelope }], { expectedVersion: 'any' });
      await store.append(correctionStream(org.id, 'late'), [{ id: randomUUID(), type: 'usage.event.corrected', data: { eventId: 'late', from: item, to: null, timeZone: 'America/Chicago' }, ...envelope }], { expectedVersion: 'any' });
      database.close();

      q = await startTestPlatform({ now: () => clock.at, dataDir });
      try {
        await q.settle();
        expect((await closedEdits(q, call)).adjustments).toEqual([
          [1, 2, 1],
          [2, 1, -1],
        ]);
      } finally {
        await q.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('an event appended after the close counts once, even if the rollups take it before the close is compared', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-periods-'));
    try {
      const year = await aYearEnded(clock, 'City of Ogdenville', { dataDir });
      let q = year.q;
      const { org, project, call } = year;
      await q.settle();
      await q.close();

      // While the platform is down, the year's close (one edit) and then a late edit of that year reach the log:
      // on restart the rollups take the late edit before the adjustments process compares the close.
      const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
      const store = new SqliteEventStore(database);
      clock.at = new Date('2028-05-10T06:30:00Z');
      const envelope = { occurredAt: clock.at.toISOString(), organizationId: org.id };
      const periodStart = '2027-05-10T05:00:00.000Z';
      const totals = [{ meter: 'edits', aggregation: 'count', total: 1, included: null }];
      const key = `usage-period-closed:${org.id}:${periodStart}`;
      await store.append(`usageperiod-${org.id}`, [{ id: randomUUID(), type: 'usage.period.closed', data: { periodStart, periodEnd: '2028-05-10T05:00:00.000Z', planId: 'city', totals }, ...envelope }], { expectedVersion: 'any', claims: [key] });
      const late = { id: 'late', type: 'zone.edited', projectId: project, time: '2028-05-10T04:55:00.000Z', data: {} };
      await store.append(usageStream(org.id), [{ id: randomUUID(), type: 'usage.events.recorded', data: { items: [late], timeZone: 'America/Chicago' }, ...envelope }], { expectedVersion: 'any' });
      database.close();

      q = await startTestPlatform({ now: () => clock.at, dataDir });
      try {
        await q.settle();
        // One adjustment for the one late edit (1 → 2), not one for the close and another for the edit (1 → 2 → 3).
        expect((await closedEdits(q, call)).adjustments).toEqual([[1, 2, 1]]);
      } finally {
        await q.close();
      }

      // The adjustments process handles everything again (its checkpoint lost, or Kafka delivering the late edit
      // before the close): the close, compared now, must not take back the late edit's adjustment (2 → 1).
      const again = new SqliteDatabase(join(dataDir, 'curbmap.db'));
      await new SqliteReadStore(again).reset('usage.period-adjustments.v1', []);
      again.close();
      q = await startTestPlatform({ now: () => clock.at, dataDir });
      try {
        await q.settle();
        expect((await closedEdits(q, call)).adjustments).toEqual([[1, 2, 1]]);
      } finally {
        await q.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
