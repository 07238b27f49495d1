import { DateTime } from 'luxon';
import type { MeterDefinition, UsageItem } from '@curbmap/contracts';

/**
 * What one item adds to a meter's rollup. count and sum are additive; max, unique_count and latest keep a
 * multiset of the values seen (value → how many times), so a void or an amendment removes exactly what the
 * item added and every rollup stays exact after corrections.
 */
export interface Contribution {
  count: number;
  sum: number;
  /** Multiset key → multiplicity (max: the number; unique_count: the JSON value; latest: JSON [time, id, value]). */
  values: Record<string, number>;
}

/** The value a meter reads from an item's data (dotted paths reach nested properties). */
export function valueAt(data: Record<string, unknown>, path: string): unknown {
  let value: unknown = data;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Why an item cannot be measured by a meter, or null. Sums and maxima take integers only: they stay exact. */
export function unmeasurable(meter: MeterDefinition, data: Record<string, unknown>): string | null {
  if (meter.aggregation === 'count' || !meter.valueProperty) return null;
  const value = valueAt(data, meter.valueProperty);
  if (meter.aggregation === 'unique_count') return value === undefined || (value !== null && typeof value === 'object') ? `data.${meter.valueProperty} must be a string, number or boolean (meter ${meter.key})` : null;
  if (meter.aggregation === 'latest') return typeof value === 'number' && Number.isFinite(value) ? null : `data.${meter.valueProperty} must be a number (meter ${meter.key})`;
  return Number.isSafeInteger(value) ? null : `data.${meter.valueProperty} must be an integer (meter ${meter.key})`;
}

export function contributionOf(meter: MeterDefinition, item: UsageItem): Contribution {
  const value = meter.valueProperty ? valueAt(item.data, meter.valueProperty) : undefined;
  switch (meter.aggregation) {
    case 'count':
      return { count: 1, sum: 0, values: {} };
    case 'sum':
      return { count: 1, sum: value as number, values: {} };
    case 'max':
      return { count: 1, sum: 0, values: { [String(value)]: 1 } };
    case 'unique_count':
      return { count: 1, sum: 0, values: { [JSON.stringify(value)]: 1 } };
    case 'latest':
      return { count: 1, sum: 0, values: { [JSON.stringify([item.time, item.id, value])]: 1 } };
    default: {
      const exhaustive: never = meter.aggregation;
      throw new Error(`unknown aggregation ${String(exhaustive)}`);
    }
  }
}

/**
 * The values of a meter's groupBy properties for an item, as one key (JSON array; a missing value is null),
 * or null when the meter groups by nothing.
 */
export function groupKeyOf(meter: Pick<MeterDefinition, 'groupBy'>, data: Record<string, unknown>): string | null {
  if (meter.groupBy.length === 0) return null;
  return JSON.stringify(meter.groupBy.map((p) => {
    const v = valueAt(data, p);
    return v === undefined || (v !== null && typeof v === 'object') ? null : v;
  }));
}

/** Adds (sign 1) or removes (sign -1) a contribution; multiset entries that reach zero disappear. */
export function applyContribution(into: Contribution, c: Contribution, sign: 1 | -1): Contribution {
  const copy = { ...into, values: { ...into.values } };
  addInto(copy, c, sign);
  return copy;
}

/** The same in place: a year's multiset summed bucket by bucket, or item by item, is not copied at each step. */
export function addInto(into: Contribution, c: Contribution, sign: 1 | -1): void {
  into.count += sign * c.count;
  into.sum += sign * c.sum;
  for (const [k, n] of Object.entries(c.values)) {
    const next = (into.values[k] ?? 0) + sign * n;
    if (next === 0) delete into.values[k];
    else into.values[k] = next;
  }
}

/** The meter's value over a set of contributions (one window). */
export function aggregate(meter: Pick<MeterDefinition, 'aggregation'>, parts: Contribution[]): number | null {
  const keys = () => parts.flatMap((p) => Object.keys(p.values).filter((k) => p.values[k]! > 0));
  switch (meter.aggregation) {
    case 'count':
      return parts.reduce((a, p) => a + p.count, 0);
    case 'sum':
      return parts.reduce((a, p) => a + p.sum, 0);
    case 'max': {
      const all = keys().map(Number);
      return all.length ? Math.max(...all) : null;
    }
    case 'unique_count':
      return new Set(keys()).size;
    case 'latest': {
      let best: [string, string, number] | null = null;
      for (const k of keys()) {
        const entry = JSON.parse(k) as [string, string, number];
        if (!best || entry[0] > best[0] || (entry[0] === best[0] && entry[1] > best[1])) best = entry;
      }
      return best ? best[2] : null;
    }
    default: {
      const exhaustive: never = meter.aggregation;
      throw new Error(`unknown aggregation ${String(exhaustive)}`);
    }
  }
}

export type Window = 'hour' | 'day' | 'month';

/** The start (UTC ISO) of the hour of the organization's zone an instant falls in: the rollup bucket. */
export function hourBucket(time: string, timeZone: string): string {
  // Every item of every batch passes here, and Luxon allocates some 8 KB per call: the answers are kept per
  // zone and UTC quarter hour. Where the zone's offset is one multiple of 15 minutes all through a quarter
  // hour (every zone today; not some local mean times of the past), the quarter hour lies in one local hour,
  // so every instant in it has the same answer.
  const t = Date.parse(time);
  const quarter = Math.floor(t / QUARTER_HOUR);
  const key = Number.isFinite(t) ? `${timeZone}\u0000${quarter}` : null;
  const known = key === null ? undefined : hourBuckets.get(key);
  if (known !== undefined) return known;
  const bucket = DateTime.fromISO(time, { zone: timeZone }).startOf('hour').toUTC().toISO()!;
  if (key !== null && bucket !== null && quarterHourOffset(quarter * QUARTER_HOUR, timeZone)) {
    if (hourBuckets.size >= HOUR_BUCKETS_KEPT) hourBuckets.clear();
    hourBuckets.set(key, bucket);
  }
  return bucket;
}

const QUARTER_HOUR = 15 * 60_000;
const HOUR_BUCKETS_KEPT = 10_000;
const hourBuckets = new Map<string, string>();

/** Is the zone's offset the same whole number of quarter hours from `start` to the end of its quarter hour? */
function quarterHourOffset(start: number, timeZone: string): boolean {
  const first = DateTime.fromMillis(start, { zone: timeZone }).offset;
  return first % 15 === 0 && DateTime.fromMillis(start + QUARTER_HOUR - 1, { zone: timeZone }).offset === first;
}

/** The start of the window (in a zone) a bucket belongs to. */
export function windowStart(bucket: string, window: Window, timeZone: string): string {
  return DateTime.fromISO(bucket, { zone: timeZone }).startOf(window).toUTC().toISO()!;
}

/** The end of the window that starts at `start` (in a zone): the next window's start. */
export function windowEnd(start: string, window: Window, timeZone: string): string {
  return DateTime.fromISO(start, { zone: timeZone }).plus({ [`${window}s`]: 1 }).toUTC().toISO()!;
}

/** Do a zone's hours start where the organization's do over a range (whole-hour offsets apart)? */
export function hoursAlign(a: string, b: string, instants: string[]): boolean {
  return instants.every((t) => (DateTime.fromISO(t, { zone: a }).offset - DateTime.fromISO(t, { zone: b }).offset) % 60 === 0);
}
