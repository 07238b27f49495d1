/**
 * The chart's time axis: every hour, day or month bucket of [from, to) in the organization's zone, as the usage
 * summary buckets them, so a range with data in one bucket still spans the range chosen (the others at zero).
 */
export type UsageWindow = 'hour' | 'day' | 'month';

/** Milliseconds the zone is ahead of UTC at an instant. */
function offsetAt(instant: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - Math.floor(instant / 1000) * 1000;
}

/** The instant a local wall time (in the zone) falls on; in a gap (DST forward), the instant after it. */
function instantOf(year: number, month: number, day: number, hour: number, timeZone: string): number {
  const wall = Date.UTC(year, month, day, hour);
  let guess = wall - offsetAt(wall, timeZone);
  guess = wall - offsetAt(guess, timeZone);
  return guess;
}

/** The local wall time (year, month 0-based, day, hour) of an instant in the zone. */
function wallOf(instant: number, timeZone: string): [number, number, number, number] {
  const local = new Date(instant + offsetAt(instant, timeZone));
  return [local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), local.getUTCHours()];
}

/** Bucket starts (ISO UTC) of every bucket overlapping [from, to), in the zone; at most `limit`. */
export function bucketStarts(from: string, to: string, window: UsageWindow, timeZone: string, limit = 2000): string[] {
  const [start, end] = [Date.parse(from), Date.parse(to)];
  if (!(start < end)) return [];
  let [y, m, d, hr] = wallOf(start, timeZone);
  if (window !== 'hour') hr = 0;
  if (window === 'month') d = 1;
  const out: string[] = [];
  for (let at = instantOf(y, m, d, hr, timeZone); at < end && out.length < limit; ) {
    out.push(new Date(at).toISOString());
    if (window === 'hour') at += 3_600_000;
    else {
      if (window === 'day') d += 1;
      else m += 1;
      const next = instantOf(y, m, d, hr, timeZone);
      [y, m, d] = wallOf(next, timeZone);
      at = next;
    }
  }
  return out;
}
