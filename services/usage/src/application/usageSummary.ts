import { HttpError, type ServiceContext } from '@curbmap/service-kit';
import type { MeterDefinition } from '@curbmap/contracts';
import { aggregate, hourBucket, hoursAlign, windowEnd, windowStart, type Window } from '../domain/rollup/rollup.ts';
import { usageCollections as C, type UsageBucketView } from '../projections/usageProjections.ts';
import { organizationZone } from './usageCommands.ts';

export interface SummaryQuery {
  meter: MeterDefinition;
  from: string;
  to: string;
  window: Window;
  /** `project`, or one of the meter's groupBy properties. */
  groupBy: string | null;
  timeZone: string | null;
  projectId: string | null;
}

export interface Summary {
  meter: string;
  aggregation: string;
  window: Window;
  timeZone: string;
  from: string;
  to: string;
  total: number | null;
  series: { projectId: string | null; group: Record<string, unknown> | null; total: number | null; points: { start: string; value: number | null }[] }[];
}

const seriesKey = (s: { projectId: string | null; group: Record<string, unknown> | null }) => (s.group ? JSON.stringify(Object.values(s.group)) : String(s.projectId));

/**
 * Reads the hourly buckets of [from, to) and folds them into windows of a zone (the organization's by
 * default). Buckets are hours of the organization's zone, so another zone is served when its hours start at
 * the same minutes (whole-hour offsets apart); otherwise the answer would mix hours and is refused.
 */
export async function usageSummary(ctx: ServiceContext, organizationId: string, q: SummaryQuery): Promise<Summary> {
  const orgZone = await organizationZone(ctx, organizationId);
  const zone = q.timeZone ?? orgZone;
  if (!hoursAlign(zone, orgZone, [q.from, q.to])) throw new HttpError(422, 'time_zone_not_aligned', `usage is rolled up by the hours of ${orgZone}; ${zone} starts its hours at other minutes`);
  // Rollups are hourly: from and to are taken at the start of their hour.
  const [fromHour, toHour] = [hourBucket(q.from, orgZone), hourBucket(q.to, orgZone)];
  const buckets = await ctx.readStore.find<UsageBucketView>(C.buckets, { organizationId, seriesHour: { $gte: `${q.meter.key}|${fromHour}`, $lt: `${q.meter.key}|${toHour}` } });
  const chosen = q.projectId ? buckets.filter((b) => b.projectId === q.projectId) : buckets;
  // Series: one in all, one per project, or one per value of a groupBy property (from each bucket's groups).
  const property = q.groupBy && q.groupBy !== 'project' ? q.groupBy : null;
  if (property && !q.meter.groupBy.includes(property)) throw new HttpError(422, 'invalid_group', `meter ${q.meter.key} groups by ${q.meter.groupBy.join(', ') || 'nothing'}; not by ${property}`);
  const groups = new Map<string | null, UsageBucketView[]>();
  // Appended in place: copying a series' list at each bucket made a year by hour (8,760 buckets) quadratic.
  const add = (key: string | null, bucket: UsageBucketView) => {
    const list = groups.get(key);
    if (list) list.push(bucket);
    else groups.set(key, [bucket]);
  };
  for (const b of chosen) {
    if (property) {
      const index = q.meter.groupBy.indexOf(property);
      for (const [key, part] of Object.entries(b.groups ?? {})) {
        const value = JSON.stringify((JSON.parse(key) as unknown[])[index] ?? null);
        add(value, { ...b, ...part });
      }
      continue;
    }
    const key = q.groupBy === 'project' ? b.projectId : null;
    add(key, b);
  }
  if (groups.size === 0) groups.set(null, []);
  const series = [...groups.entries()].map(([projectId, list]) => {
    // Buckets in hour order fall into windows one after the other: a window's bounds are computed once, not
    // per bucket (a year by day is 8,760 buckets and 365 windows).
    const windows = new Map<string, UsageBucketView[]>();
    let current: { start: string; end: string; parts: UsageBucketView[] } | null = null;
    for (const b of [...list].sort((x, y) => x.hour.localeCompare(y.hour))) {
      if (!current || b.hour >= current.end) {
        const start = windowStart(b.hour, q.window, zone);
        current = { start, end: windowEnd(start, q.window, zone), parts: [] };
        windows.set(start, current.parts);
      }
      current.parts.push(b);
    }
    const points = [...windows.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([start, parts]) => ({ start, value: aggregate(q.meter, parts) }));
    return { projectId: property ? null : projectId, group: property ? { [property]: JSON.parse(projectId ?? 'null') } : null, total: aggregate(q.meter, list), points };
  });
  return { meter: q.meter.key, aggregation: q.meter.aggregation, window: q.window, timeZone: zone, from: fromHour, to: toHour, total: aggregate(q.meter, chosen), series: series.sort((a, b) => seriesKey(a).localeCompare(seriesKey(b))) };
}
