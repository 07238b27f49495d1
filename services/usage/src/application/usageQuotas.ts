import { deterministicUuid, type StoredEvent } from '@curbmap/eventsourcing';
import { writeOf, type Running, type ServiceContext } from '@curbmap/service-kit';
import type { UsageItem } from '@curbmap/contracts';
import { aggregate, hourBucket } from '../domain/rollup/rollup.ts';
import { usageCollections as C, type UsageBucketView } from '../projections/usageProjections.ts';
import { usagePeriods, type UsagePeriodView } from '../projections/usagePeriodProjection.ts';
import { metersOf, organizationZone } from './usageCommands.ts';

/**
 * What a subscription year includes per meter: its plan's at the price version the year was sold at (or, for a
 * year sold before versions were recorded, the one in effect when it began), with the contract version that priced
 * it over them; null: not in this service's copies.
 */
export type IncludedUsage = (year: Pick<UsagePeriodView, 'organizationId' | 'planId' | 'periodStart' | 'planVersion' | 'contractVersion'>) => Promise<Record<string, number> | null>;

export interface MeterQuota {
  meter: string;
  use: number;
  included: number;
  /** Of the included amount, one decimal; null when nothing is included. */
  percentage: number | null;
}

export interface Quotas {
  planId: string;
  periodStart: string;
  periodEnd: string;
  meters: MeterQuota[];
}

export const quotaStream = (organizationId: string) => `quota-${organizationId}`;
const THRESHOLDS = [80, 100] as const;

/** Use of each meter the plan includes, over the current subscription year up to now. */
export async function quotasOf(ctx: ServiceContext, organizationId: string, included: IncludedUsage, at: Date = ctx.now()): Promise<Quotas | null> {
  const period = await ctx.readStore.get<UsagePeriodView>(usagePeriods, organizationId);
  const amounts = period?.active ? await included(period) : null;
  if (!period || !amounts) return null;
  const meters = await metersOf(ctx, organizationId);
  const zone = await organizationZone(ctx, organizationId);
  const end = at.getTime() < Date.parse(period.periodEnd) ? at.toISOString() : period.periodEnd;
  const out: MeterQuota[] = [];
  for (const [key, amount] of Object.entries(amounts)) {
    const meter = meters.find((m) => m.key === key);
    if (!meter) continue;
    // Every bucket of the period so far, the current hour included.
    const upTo = new Date(Date.parse(hourBucket(end, zone)) + 3_600_000).toISOString();
    const buckets = await ctx.readStore.find<UsageBucketView>(C.buckets, { organizationId, seriesHour: { $gte: `${key}|${hourBucket(period.periodStart, zone)}`, $lt: `${key}|${upTo}` } });
    const use = aggregate(meter, buckets) ?? 0;
    out.push({ meter: key, use, included: amount, percentage: amount > 0 ? Math.round((use / amount) * 1000) / 10 : null });
  }
  return { planId: period.planId, periodStart: period.periodStart, periodEnd: period.periodEnd, meters: out };
}

/**
 * Quota alerts: after each batch or correction is rolled up, the meters it touched are measured against the
 * plan; crossing 80 % or 100 % emits usage.quota.threshold_reached once per period, meter and threshold (the
 * event id derives from those, so a redelivery or a second crossing appends nothing).
 */
export function startQuotaAlerts(ctx: ServiceContext, included: IncludedUsage): Running {
  const sub = ctx.subscriptions.subscribe('usage.quota-alerts.v1', { types: ['usage.events.recorded', 'usage.event.corrected'] }, async (batch) => {
    const touched = new Map<string, { last: StoredEvent; types: Set<string> }>();
    for (const stored of batch) {
      const items: UsageItem[] = stored.type === 'usage.events.recorded' ? (stored.data as { items: UsageItem[] }).items : [(stored.data as { from: UsageItem }).from];
      const entry = touched.get(stored.organizationId) ?? { last: stored, types: new Set<string>() };
      entry.last = stored;
      for (const i of items) entry.types.add(i.type);
      touched.set(stored.organizationId, entry);
    }
    for (const [organizationId, { last, types }] of touched) {
      // No subscription, no quota: decided before waiting for the rollups.
      if (!(await ctx.readStore.get<UsagePeriodView>(usagePeriods, organizationId))?.active) continue;
      await ctx.waitForReadModels(writeOf(last)).catch(() => undefined);
      const quotas = await quotasOf(ctx, organizationId, included, new Date(last.occurredAt));
      if (!quotas) continue;
      const meters = await metersOf(ctx, organizationId);
      for (const q of quotas.meters) {
        if (!meters.some((m) => m.key === q.meter && types.has(m.eventType))) continue;
        for (const threshold of THRESHOLDS) {
          if (q.included <= 0 || q.use * 100 < q.included * threshold) continue;
          const id = deterministicUuid(`quota:${organizationId}:${q.meter}:${quotas.periodStart}:${threshold}`);
          await ctx.store.append(quotaStream(organizationId), [{ id, type: 'usage.quota.threshold_reached', data: { meter: q.meter, threshold, periodStart: quotas.periodStart, periodEnd: quotas.periodEnd, use: q.use, included: q.included }, occurredAt: last.occurredAt, organizationId, correlationId: last.correlationId, causationId: last.id }], { expectedVersion: 'any' });
        }
      }
    }
  });
  return { stop: () => sub.stop() };
}
