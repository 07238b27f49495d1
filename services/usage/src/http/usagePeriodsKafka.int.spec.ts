import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '@curbmap/contracts';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from '@curbmap/infra';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/infra';
import { TEST_ADMIN_TOKEN } from '@curbmap/gateway/testing';
import { totalsAsOf, usagePeriodStream } from '../application/periodClosing.ts';
import { metersOf } from '../application/usageCommands.ts';
import { aYearEnded, closedEdits, type Clock } from './usagePeriods.fixture.ts';

// On Kafka, usage and the year's close come on different topics: the rollups may take an event appended after
// the close before the adjustments process compares the close. Real broker, real PostgreSQL.
const unavailable = postgresUnavailable() ?? kafkaUnavailable();
if (unavailable) {
  describe('usage periods on Kafka', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  let cluster: PrivateCluster;
  let broker: PrivateBroker;
  beforeAll(async () => {
    [cluster, broker] = await Promise.all([startPrivateCluster(), startPrivateBroker()]);
  }, 120_000);
  afterAll(async () => {
    await broker?.stop();
    await cluster?.stop();
  }, 60_000);

  describe('usage periods on Kafka', () => {
    it('an event appended after the close counts once: as its own adjustment, not in the close\'s comparison, though the rollups hold it', async () => {
      const clock: Clock = { at: new Date() };
      const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-periods-kafka-'));
      const databaseUrl = (await createDatabase(cluster.url)).url;
      const { q, org, project, call } = await aYearEnded(clock, 'City of North Haverbrook', { dataDir, databaseUrl, kafkaBrokers: broker.brokers });
      try {
        clock.at = new Date('2028-05-10T06:30:00Z');
        expect((await call(q, 'POST', '/v1/admin/usage/close-periods', undefined, { authorization: `Bearer ${TEST_ADMIN_TOKEN}` })).json().closed).toBe(1);
        await q.settle();
        const edits = () => closedEdits(q, call);
        expect(await edits()).toEqual({ total: 1, adjustments: [] });
        expect((await call(q, 'POST', '/v1/usage/events', { id: 'late', type: 'zone.edited', projectId: project, time: '2028-05-10T04:55:00Z', data: {} })).statusCode).toBe(200);
        await q.settle();

        // One adjustment for the one late edit (1 → 2), not one for the close and another for the edit (1 → 2 → 3).
        expect(await edits()).toEqual({ total: 2, adjustments: [[1, 2, 1]] });

        // Compared again now that the rollups hold the late edit (the order Kafka may deliver on a restart or
        // under lag), the close still sees the one edit appended before it.
        const summary = await call(q, 'GET', '/v1/usage/summary?meter=edits&from=2027-05-10T05:00:00Z&to=2028-05-10T05:00:00Z');
        expect(summary.json().total).toBe(2);
        let close: { globalPosition: string; data: Extract<UsageEvent, { type: 'usage.period.closed' }>['data'] } | null = null;
        for await (const e of q.ctx.store.readStream(usagePeriodStream(org.id))) if (e.type === 'usage.period.closed') close = { globalPosition: e.globalPosition, data: e.data as never };
        const meters = (await metersOf(q.ctx, org.id)).filter((m) => m.key === 'edits');
        expect(await totalsAsOf(q.ctx, org.id, close!.data, meters, close!)).toEqual(new Map([['edits', 1]]));
      } finally {
        await q.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 180_000);
  });
}
