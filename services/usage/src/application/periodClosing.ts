import type { MeterDefinition, PeriodTotal, UsageEvent, UsageItem } from '@curbmap/contracts';
import { alreadyApplied, ClaimConflictError, deterministicUuid, type AppliedVersions, type Checkpoint, type StoredEvent } from '@curbmap/eventsourcing';
import { periodicPass, subscriptionsAtHead, usageTermsOfYear, writeOf, type PricingCopies, type Running, type ServiceContext } from '@curbmap/service-kit';
import { addInto, aggregate, contributionOf, hourBucket, type Contribution } from '../domain/rollup/rollup.ts';
import { bucketId, usageCollections as C, usageRollupProjection, type UsageBucketView } from '../projections/usageProjections.ts';
import { DEFAULT_GRACE_MINUTES, usagePeriodHistory, usagePeriodProjection, usageSettings, type PeriodHistoryView, type UsageSettingsView } from '../projections/usagePeriodProjection.ts';
import { metersOf, organizationZone, usageStream } from './usageCommands.ts';

export const usagePeriodStream = (organizationId: string) => `usageperiod-${organizationId}`;

type ClosedPeriod = Extract<UsageEvent, { type: 'usage.period.closed' }>['data'];

/** The rollups' subscription in this process (the usage service runs its projections itself). */
function rollupsSubscription(ctx: ServiceContext) {
  const rollups = ctx.subscriptions.list().find((s) => s.name === usageRollupProjection.name);
  if (!rollups) throw new Error(`${usageRollupProjection.name} does not run in this process`);
  return rollups;
}

/**
 * Waits until the rollups hold everything appended so far (a close must not miss what was just ingested): a
 * log position on one log, every partition's end offset at that moment on Kafka.
 */
async function rollupsCaughtUp(ctx: ServiceContext): Promise<Checkpoint> {
  const head = await ctx.store.headPosition();
  if (head) await rollupsSubscription(ctx).waitFor(head, 60_000);
  return head;
}

/** The hours of the organization's zone a period's rollups span: [from, to), as bucket keys (UTC ISO). */
export async function periodHours(ctx: ServiceContext, organizationId: string, period: { periodStart: string; periodEnd: string }): Promise<{ fromHour: string; toHour: string }> {
  const zone = await organizationZone(ctx, organizationId);
  return { fromHour: hourBucket(period.periodStart, zone), toHour: hourBucket(period.periodEnd, zone) };
}

/** Does an item fall in a period as the rollups count it: by its hour (in the zone it was recorded in), not its instant. */
export const inHours = (item: UsageItem, timeZone: string, hours: { fromHour: string; toHour: string }) => {
  const hour = hourBucket(item.time, timeZone);
  return hour >= hours.fromHour && hour < hours.toHour;
};

/**
 * What the year includes: its plan's at the version it was sold at, with the contract version that priced it over
 * them (usageTermsOfYear). A copy that has yet to show either: PlanNotKnownError, a later pass closes the year. A
 * plan never in the catalogue and no contract: the year is unpriced, as it was before price versions.
 */
async function includedInYear(ctx: ServiceContext, pricing: PricingCopies, period: YearOf): Promise<Record<string, number>> {
  const terms = await usageTermsOfYear(ctx, pricing, period, 5_000);
  if (terms === 'pending') throw new PlanNotKnownError(period.planId);
  if (terms !== 'unpriced') return terms.includedUsage;
  ctx.log.warn({ planId: period.planId, planVersion: period.planVersion ?? null }, 'a subscription year\'s plan is not in the catalogue: its usage is not priced');
  return {};
}

/** A subscription year as pricing it needs: whose, its plan and the versions that priced it. */
type YearOf = Pick<PeriodHistoryView, 'organizationId' | 'planId' | 'periodStart' | 'planVersion' | 'contractVersion'>;
/** The versions that priced a year, as its close and adjustments record them. */
const pricedBy = (year: Pick<YearOf, 'planVersion' | 'contractVersion'>) => ({ ...(year.planVersion ? { planVersion: year.planVersion } : {}), ...(year.contractVersion ? { contractVersion: year.contractVersion } : {}) });

/** Each meter's total over [start, end) from the hourly rollups. */
export async function periodTotals(ctx: ServiceContext, organizationId: string, period: Omit<YearOf, 'organizationId'> & { endsAt: string }, pricing: PricingCopies, only?: Set<string>, hours?: { fromHour: string; toHour: string }): Promise<PeriodTotal[]> {
  const { fromHour: from, toHour: to } = hours ?? (await periodHours(ctx, organizationId, { periodStart: period.periodStart, periodEnd: period.endsAt }));
  const amounts = await includedInYear(ctx, pricing, { ...period, organizationId });
  const totals: PeriodTotal[] = [];
  for (const meter of await metersOf(ctx, organizationId)) {
    if (only && !only.has(meter.key)) continue;
    const buckets = await ctx.readStore.find<UsageBucketView>(C.buckets, { organizationId, seriesHour: { $gte: `${meter.key}|${from}`, $lt: `${meter.key}|${to}` } });
    totals.push({ meter: meter.key, aggregation: meter.aggregation, total: aggregate(meter, buckets), included: amounts[meter.key] ?? null });
  }
  return totals;
}

/** The plan of a period is not (yet) in this service's copy of the catalogue: closing waits for it. */
export class PlanNotKnownError extends Error {
  constructor(planId: string) {
    super(`plan ${planId} is not in usage's copy of the catalogue (yet)`);
    this.name = 'PlanNotKnownError';
  }
}

/**
 * Closes every subscription year whose end plus the organization's grace period (default 1 hour) has passed:
 * `usage.period.closed` with each meter's final total, once per year (its id derives from the year).
 */
export async function closeDuePeriods(ctx: ServiceContext, pricing: PricingCopies, at: Date = ctx.now()): Promise<number> {
  // The years as billing's events say, all of them: a year closed on a history still catching up (a rebuild after an
  // upgrade) would record a plan or an end a later event changed, for good. A wait that runs out fails this pass.
  await subscriptionsAtHead(ctx, [usagePeriodProjection.name], 60_000);
  let closed = 0;
  for (const period of await ctx.readStore.find<PeriodHistoryView>(usagePeriodHistory, { closed: false, endsAt: { $lte: at.toISOString() } }, { orderBy: 'endsAt', limit: 1000 })) {
    const grace = (await ctx.readStore.get<UsageSettingsView>(usageSettings, period.organizationId))?.gracePeriodMinutes ?? DEFAULT_GRACE_MINUTES;
    if (Date.parse(period.endsAt) + grace * 60_000 > at.getTime()) continue;
    const through = await rollupsCaughtUp(ctx);
    const hours = await periodHours(ctx, period.organizationId, { periodStart: period.periodStart, periodEnd: period.endsAt });
    let totals: PeriodTotal[];
    try {
      totals = await periodTotals(ctx, period.organizationId, period, pricing, undefined, hours);
    } catch (err) {
      // Closed on a later pass; the other organizations' years close now.
      if (!(err instanceof PlanNotKnownError)) throw err;
      ctx.log.warn({ organizationId: period.organizationId, planId: period.planId }, err.message);
      continue;
    }
    // Every meter exactly as of `through`: the rollups may hold usage appended since, which the close's own
    // comparison (adjust) bills as an adjustment. Each overage line's evidence is then exactly the usage it counts.
    if (through !== null) {
      const counted = (await metersOf(ctx, period.organizationId)).filter((m) => totals.some((t) => t.meter === m.key));
      const exact = await totalsAsOf(ctx, period.organizationId, { periodStart: period.periodStart, periodEnd: period.endsAt }, counted, { globalPosition: through }, hours);
      totals = totals.map((t) => (exact.has(t.meter) ? { ...t, total: exact.get(t.meter)! } : t));
    }
    const data: ClosedPeriod = { periodStart: period.periodStart, periodEnd: period.endsAt, planId: period.planId, ...pricedBy(period), ...(period.soldUnder !== undefined ? { commitmentContractVersion: period.soldUnder } : {}), ...(through !== null ? { counted: { through, ...hours } } : {}), totals };
    const key = `usage-period-closed:${period.organizationId}:${period.periodStart}`;
    const streamId = usagePeriodStream(period.organizationId);
    try {
      // Claimed with the close: a year closes once, whoever else is closing it.
      const { position, nextVersion } = await ctx.store.append(streamId, [{ id: deterministicUuid(key), type: 'usage.period.closed', data, occurredAt: at.toISOString(), organizationId: period.organizationId }], { expectedVersion: 'any', claims: [key] });
      await ctx.waitForReadModels({ streamId, version: nextVersion, types: ['usage.period.closed'], position });
    } catch (err) {
      if (err instanceof ClaimConflictError) continue;
      throw err;
    }
    ctx.log.info({ organizationId: period.organizationId, periodStart: period.periodStart }, 'usage period closed');
    closed += 1;
  }
  return closed;
}

/** What the usage items change in a count or sum meter's total (a void or amendment carries −1 for what it undoes). */
function additiveDelta(meter: MeterDefinition, items: [UsageItem, 1 | -1][]): number {
  return items.filter(([i]) => i.type === meter.eventType).reduce((a, [i, sign]) => a + sign * (meter.aggregation === 'count' ? 1 : contributionOf(meter, i).sum), 0);
}

/** The items a usage event adds (+1) or takes away (−1). */
function itemsOf(event: UsageEvent): [UsageItem, 1 | -1][] {
  if (event.type === 'usage.events.recorded') return event.data.items.map((i) => [i, 1]);
  if (event.type === 'usage.event.corrected') return [[event.data.from, -1], ...(event.data.to ? [[event.data.to, 1] as [UsageItem, 1]] : [])];
  return [];
}

/**
 * Meters' totals of a closed year as of a log position (the close, or the position the close counted through):
 * what the rollups hold once they hold everything appended up to it, less what usage appended after it added to
 * them. Each event then counts once relative to the close: before it, in the close's comparison; after it, as its
 * own adjustment. Whether a later event is in a bucket is known per bucket (it remembers the last version of each
 * stream it applied, and a stream's events are applied in order), whatever the rollups' position is: a log
 * position, or offsets per partition on Kafka, where usage and closes come on different topics. Every aggregation:
 * a bucket's contribution is a multiset for max, unique_count and latest, so what a later item added comes out
 * exactly. `hours`: the year's hours as the close recorded them (else the organization's zone now).
 */
export async function totalsAsOf(ctx: ServiceContext, organizationId: string, period: Pick<ClosedPeriod, 'periodStart' | 'periodEnd'>, meters: MeterDefinition[], close: Pick<StoredEvent, 'globalPosition'>, hours?: { fromHour: string; toHour: string }): Promise<Map<string, number | null>> {
  const exact = new Map<string, number | null>();
  if (meters.length === 0) return exact;
  await rollupsSubscription(ctx).waitFor(close.globalPosition, 60_000);
  const span = hours ?? (await periodHours(ctx, organizationId, period));
  const [from, to] = [span.fromHour, span.toHour];
  // Only what each bucket applied is kept, and each meter's sum of its buckets (one multiset, merged as read).
  const applied = new Map<string, AppliedVersions>();
  const held = new Map<string, Contribution>();
  for (const meter of meters) {
    const docs = await ctx.readStore.find<UsageBucketView & AppliedVersions>(C.buckets, { organizationId, seriesHour: { $gte: `${meter.key}|${from}`, $lt: `${meter.key}|${to}` } });
    const sum: Contribution = { count: 0, sum: 0, values: {} };
    for (const doc of docs) {
      applied.set(doc.id, { appliedVersions: doc.appliedVersions ?? {} });
      addInto(sum, doc, 1);
    }
    held.set(meter.key, sum);
  }
  // Read after the buckets, up to the head as it is now: an event a bucket holds was appended before the buckets
  // were read, so this sees it; what comes later is in no bucket read here.
  const head = await ctx.store.headPosition();
  for await (const e of ctx.store.readAll({ from: close.globalPosition, to: head, filter: { types: ['usage.events.recorded', 'usage.event.corrected'] } })) {
    if (e.organizationId !== organizationId) continue;
    const event = { type: e.type, data: e.data } as Extract<UsageEvent, { type: 'usage.events.recorded' | 'usage.event.corrected' }>;
    for (const [item, sign] of itemsOf(event)) {
      // By hour, as the buckets count: an instant before the period's start in its first hour is in a bucket read.
      if (!inHours(item, event.data.timeZone, span)) continue;
      for (const m of meters) {
        if (m.eventType !== item.type || !alreadyApplied(applied.get(bucketId(organizationId, m.key, item.projectId, hourBucket(item.time, event.data.timeZone))), e)) continue;
        addInto(held.get(m.key)!, contributionOf(m, item), sign === 1 ? -1 : 1);
      }
    }
  }
  for (const m of meters) {
    const total = aggregate(m, [held.get(m.key)!]);
    exact.set(m.key, m.aggregation === 'count' || m.aggregation === 'sum' ? (total ?? 0) : total);
  }
  return exact;
}


/** The closed years of an organization with each meter's total as billed so far (the close plus its adjustments). */
async function billedTotals(ctx: ServiceContext, organizationId: string, before: string | null): Promise<Map<string, { period: ClosedPeriod; totals: Map<string, number | null>; adjusted: Set<string>; version: number }>> {
  const periods = new Map<string, { period: ClosedPeriod; totals: Map<string, number | null>; adjusted: Set<string>; version: number }>();
  for await (const e of ctx.store.readStream(usagePeriodStream(organizationId))) {
    if (before !== null && ctx.store.compare(e.globalPosition, before) >= 0) break;
    const event = { type: e.type, data: e.data } as UsageEvent;
    if (event.type === 'usage.period.closed') periods.set(event.data.periodStart, { period: event.data, totals: new Map(event.data.totals.map((t) => [t.meter, t.total])), adjusted: new Set(), version: e.streamVersion });
    if (event.type === 'usage.adjustment.recorded') {
      periods.get(event.data.periodStart)?.totals.set(event.data.meter, event.data.total);
      periods.get(event.data.periodStart)?.adjusted.add(`${event.data.sourceEventId}|${event.data.meter}`);
    }
  }
  return periods;
}

/**
 * Usage that reaches a closed year never changes it silently: after a late event or a correction is rolled up
 * (and after each close, for what was ingested while it was computed), each affected meter's total is compared
 * with what was billed (the close plus earlier adjustments); a difference is `usage.adjustment.recorded`, for
 * the invoice service to bill or credit. Handled in log order; ids derive from the source event.
 */
export function startPeriodClosing(ctx: ServiceContext, pricing: PricingCopies, intervalMs: number): Running & { tick(at?: Date): Promise<number> } {
  // Whether an organization has a closed year at all: most have none, and their events need no look at all. A
  // "none" holds for the events appended up to the log's head when it was looked up: on Kafka a close can come
  // after usage appended later than it (other topic), so a later event looks again.
  const hasCloses = new Map<string, true | { checkedUpTo: Checkpoint }>();
  const sub = ctx.subscriptions.subscribe('usage.period-adjustments.v1', { types: ['usage.events.recorded', 'usage.event.corrected', 'usage.period.closed'] }, async (batch) => {
    for (const stored of batch) {
      if (stored.type === 'usage.period.closed') hasCloses.set(stored.organizationId, true);
      let known = hasCloses.get(stored.organizationId);
      if (known === undefined || (known !== true && ctx.store.compare(stored.globalPosition, known.checkedUpTo) > 0)) {
        const head = await ctx.store.headPosition();
        known = (await billedTotals(ctx, stored.organizationId, null)).size > 0 ? true : { checkedUpTo: head };
        hasCloses.set(stored.organizationId, known);
      }
      if (known === true) await adjust(ctx, pricing, stored);
    }
  });
  const closing = periodicPass((at) => closeDuePeriods(ctx, pricing, at), { intervalMs, now: () => ctx.now(), onError: (err) => ctx.log.error({ err }, 'closing usage periods failed') });
  return {
    tick: closing.tick,
    async stop() {
      await closing.stop();
      await sub.stop();
    },
  };
}

async function adjust(ctx: ServiceContext, pricing: PricingCopies, stored: StoredEvent): Promise<void> {
  const organizationId = stored.organizationId;
  const event = { type: stored.type, data: stored.data } as UsageEvent;
  // The closed years as they were when this event was appended; a close that comes later compares for itself.
  const closed = await billedTotals(ctx, organizationId, event.type === 'usage.period.closed' ? null : stored.globalPosition);
  if (closed.size === 0) return;
  let touched: { period: ClosedPeriod; meters: MeterDefinition[]; items: [UsageItem, 1 | -1][] }[];
  const meters: MeterDefinition[] = await metersOf(ctx, organizationId);
  if (event.type === 'usage.period.closed') {
    const keys = new Set(event.data.totals.map((t) => t.meter));
    touched = [{ period: event.data, meters: meters.filter((m) => keys.has(m.key)), items: [] }];
  } else {
    const items = itemsOf(event);
    const timeZone = (event as Extract<UsageEvent, { type: 'usage.events.recorded' | 'usage.event.corrected' }>).data.timeZone;
    touched = [];
    for (const { period } of closed.values()) {
      // By hour, as the rollups and the close count.
      const hours = period.counted ?? (await periodHours(ctx, organizationId, period));
      const inside = items.filter(([i]) => inHours(i, timeZone, hours));
      if (inside.length) touched.push({ period, meters: meters.filter((m) => inside.some(([i]) => i.type === m.eventType)), items: inside });
    }
  }
  if (touched.length === 0) return;
  await ctx.waitForReadModels(writeOf(stored));
  // What is billed now (the close and every adjustment so far), read once: each year's entry is its own.
  const billedNow = await billedTotals(ctx, organizationId, null);
  for (const { period, meters: affected, items } of touched) {
    const billed = billedNow.get(period.periodStart)!;
    // A count or a sum changes by exactly what this event adds or removes, whatever the rollups show by now
    // (they may already hold later events: a late event then its void must be two adjustments, not none).
    // Other aggregations are not additive: they compare the year's total now with the billed one.
    const additive = event.type !== 'usage.period.closed' ? affected.filter((m) => m.aggregation === 'count' || m.aggregation === 'sum') : [];
    // The close compares its totals with what was appended before it only: the rollups may hold later usage
    // already, which its own adjustment will count.
    const atClose = event.type === 'usage.period.closed' ? await totalsAsOf(ctx, organizationId, period, affected.filter((m) => m.aggregation === 'count' || m.aggregation === 'sum'), stored, period.counted) : null;
    const recomputed = affected.filter((m) => !additive.includes(m) && !atClose?.has(m.key));
    // What this event changes in each count or sum meter: a late event or a correction, what it adds or removes;
    // the close, what the year held as of the close less what the close recorded (the adjustments of events
    // after it, perhaps recorded before this comparison on Kafka, are theirs and stay).
    const deltas = new Map<string, number>();
    if (event.type === 'usage.period.closed') for (const [meter, exact] of atClose ?? []) deltas.set(meter, (exact ?? 0) - (event.data.totals.find((t) => t.meter === meter)?.total ?? 0));
    for (const m of additive) deltas.set(m.key, additiveDelta(m, items));
    const now: PeriodTotal[] = [];
    for (const [meter, delta] of deltas) {
      // Redelivered after a crash: what this event changed is recorded already (and counted in the totals).
      if (delta === 0 || billed.adjusted.has(`${stored.id}|${meter}`)) continue;
      now.push({ meter, aggregation: affected.find((m) => m.key === meter)!.aggregation, total: (billed.totals.get(meter) ?? 0) + delta, included: null });
    }
    if (recomputed.length) now.push(...(await periodTotals(ctx, organizationId, { periodStart: period.periodStart, endsAt: period.periodEnd, planId: period.planId, ...pricedBy(period) }, pricing, new Set(recomputed.map((m) => m.key)), period.counted)));
    for (const t of now) {
      const previous = billed.totals.get(t.meter) ?? null;
      if (previous === t.total) continue;
      const id = deterministicUuid(`usage-adjustment:${stored.id}:${period.periodStart}:${t.meter}`);
      const data = { periodStart: period.periodStart, periodEnd: period.periodEnd, planId: period.planId, ...pricedBy(period), meter: t.meter, previousTotal: previous, total: t.total, delta: (t.total ?? 0) - (previous ?? 0), sourceEventId: stored.id };
      await ctx.store.append(usagePeriodStream(organizationId), [{ id, type: 'usage.adjustment.recorded', data, occurredAt: stored.occurredAt, organizationId, causationId: stored.id, correlationId: stored.correlationId }], { expectedVersion: 'any' });
      billed.totals.set(t.meter, t.total);
    }
  }
}
