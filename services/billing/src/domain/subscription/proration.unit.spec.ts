import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { anchorFor, annualPeriod } from './billingPeriod.ts';
import { divideHalfEven, prorate, prorationLines } from './proration.ts';

/**
 * An independent reference: start from the floating-point estimate and correct it with exact integer
 * comparisons (|amount·remaining − c·length|·2 ≤ length, ties to even), with the span measured by luxon.
 */
function reference(amount: number, start: string, end: string, at: string): number {
  const length = BigInt(Math.round(DateTime.fromISO(end).diff(DateTime.fromISO(start), 'seconds').seconds));
  const clampedAt = Math.min(Math.max(Date.parse(at), Date.parse(start)), Date.parse(end));
  const remaining = BigInt(Math.floor(Date.parse(end) / 1000) - Math.floor(clampedAt / 1000));
  const exact = BigInt(amount) * remaining;
  let c = BigInt(Math.round((amount * Number(remaining)) / Number(length)));
  const off = (x: bigint) => 2n * (exact - x * length);
  while (off(c) > length) c += 1n;
  while (off(c) < -length) c -= 1n;
  if (off(c) === length && c % 2n !== 0n) c += 1n;
  if (off(c) === -length && c % 2n !== 0n) c -= 1n;
  return Number(c);
}

const zones = ['UTC', 'America/New_York', 'America/Los_Angeles', 'America/Santiago', 'Europe/Paris', 'Asia/Tokyo', 'Australia/Sydney', 'Pacific/Chatham'];
const zone = fc.constantFrom(...zones);
// 2023–2031 spans the leap years 2024 and 2028.
const instant = fc.integer({ min: Date.UTC(2023, 0, 1), max: Date.UTC(2031, 0, 1) }).map((ms) => new Date(ms).toISOString());
// USD and EUR in cents, JPY (zero-decimal) in yen: all integers, up to a few million seats' worth.
const amount = fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 9_000_000_000_000 }));

/**
 * Worked examples, computed by hand (and re-checked in Python with exact fractions and zoneinfo, outside this
 * code): the period's first instant is the first instant of the local day, its end the same local date a year
 * later; the credit is amount × remaining seconds / period seconds, rounded half to even.
 */
const worked = [
  // UTC, a period holding 29 February 2028: 366 days; 183.5 days remain.
  { zone: 'UTC', subscribedAt: '2027-03-10T09:00:00Z', changeAt: '2027-09-08T12:00:00Z', amount: 1_080_000, start: '2027-03-10T00:00:00.000Z', end: '2028-03-10T00:00:00.000Z', expected: 541_475 },
  // Chicago: starts in CST, crosses DST twice, ends in CST: still exactly 366 days.
  { zone: 'America/Chicago', subscribedAt: '2027-03-10T15:30:00Z', changeAt: '2027-11-07T08:30:00Z', amount: 1_080_000, start: '2027-03-10T06:00:00.000Z', end: '2028-03-10T06:00:00.000Z', expected: 365_594 },
  // New York: 13 March is before DST in 2027 (EST) and after it in 2028 (EDT): the year is one hour short.
  { zone: 'America/New_York', subscribedAt: '2027-03-13T17:00:00Z', changeAt: '2027-03-14T12:00:00Z', amount: 999_999, start: '2027-03-13T05:00:00.000Z', end: '2028-03-13T04:00:00.000Z', expected: 996_469 },
  // Paris in summer time, change on 1 March 2028 local (the day after the leap day).
  { zone: 'Europe/Paris', subscribedAt: '2027-06-01T10:00:00Z', changeAt: '2028-02-29T23:00:00Z', amount: 720_000, start: '2027-05-31T22:00:00.000Z', end: '2028-05-31T22:00:00.000Z', expected: 180_902 },
  // Santiago, 6 September 2026 has no local midnight (clocks jump from 24:00 to 01:00): the day starts at 01:00 -03.
  { zone: 'America/Santiago', subscribedAt: '2026-09-06T15:00:00Z', changeAt: '2027-01-01T00:00:00Z', amount: 540_000, start: '2026-09-06T04:00:00.000Z', end: '2027-09-06T03:00:00.000Z', expected: 367_131 },
  // Kolkata (an alias Intl lists as Asia/Calcutta), anchored on 29 February: renews on 28 February.
  { zone: 'Asia/Kolkata', subscribedAt: '2028-02-29T05:00:00Z', changeAt: '2028-08-15T06:30:00Z', amount: 1_234_567, start: '2028-02-28T18:30:00.000Z', end: '2029-02-27T18:30:00.000Z', expected: 664_637 },
  // Yen have no minor unit: 49.86 yen is 50.
  { zone: 'Asia/Tokyo', subscribedAt: '2027-01-01T03:00:00Z', changeAt: '2027-07-02T15:00:00Z', amount: 100, start: '2026-12-31T15:00:00.000Z', end: '2027-12-31T15:00:00.000Z', expected: 50 },
  // Exactly half the year left: ties go to the even neighbour (0.5 → 0, 1.5 → 2, 2.5 → 2).
  { zone: 'UTC', subscribedAt: '2027-01-01T08:00:00Z', changeAt: '2027-07-02T12:00:00Z', amount: 1, start: '2027-01-01T00:00:00.000Z', end: '2028-01-01T00:00:00.000Z', expected: 0 },
  { zone: 'UTC', subscribedAt: '2027-01-01T08:00:00Z', changeAt: '2027-07-02T12:00:00Z', amount: 3, start: '2027-01-01T00:00:00.000Z', end: '2028-01-01T00:00:00.000Z', expected: 2 },
  { zone: 'UTC', subscribedAt: '2027-01-01T08:00:00Z', changeAt: '2027-07-02T12:00:00Z', amount: 5, start: '2027-01-01T00:00:00.000Z', end: '2028-01-01T00:00:00.000Z', expected: 2 },
];

describe('proration against worked examples', () => {
  for (const c of worked) {
    it(`${c.zone}: ${c.amount} from ${c.changeAt} → ${c.expected}`, () => {
      const period = annualPeriod(anchorFor(c.subscribedAt, c.zone), c.zone, 0);
      expect(period).toEqual({ start: c.start, end: c.end });
      expect(prorate(c.amount, period, c.changeAt)).toBe(c.expected);
    });
  }
});

describe('proration (Stripe rule: remaining seconds over period seconds)', () => {
  it('matches an independent computation over random instants, zones and leap years', () => {
    fc.assert(
      fc.property(amount, instant, zone, fc.double({ min: 0, max: 1, noNaN: true }), (a, startAt, tz, f) => {
        const period = annualPeriod(anchorFor(startAt, tz), tz, 0);
        const at = new Date(Date.parse(period.start) + Math.floor(f * (Date.parse(period.end) - Date.parse(period.start)))).toISOString();
        const value = prorate(a, period, at);
        expect(value).toBe(reference(a, period.start, period.end, at));
        expect(Number.isInteger(value)).toBe(true);
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(a);
      }),
      { numRuns: 2000 },
    );
  });

  it('charges everything at the start, nothing at the end, and never more later', () => {
    fc.assert(
      fc.property(amount, instant, zone, instant, instant, (a, startAt, tz, x, y) => {
        const period = annualPeriod(anchorFor(startAt, tz), tz, 0);
        expect(prorate(a, period, period.start)).toBe(a);
        expect(prorate(a, period, period.end)).toBe(0);
        const [early, late] = Date.parse(x) <= Date.parse(y) ? [x, y] : [y, x];
        expect(prorate(a, period, early)).toBeGreaterThanOrEqual(prorate(a, period, late));
      }),
    );
  });

  it('nets a seat increase to the prorated price of the added seats, within one minor unit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.constantFrom(120_000, 110_000, 180_000, 1_350_000), instant, zone, fc.double({ min: 0, max: 1, noNaN: true }), (s1, extra, unit, startAt, tz, f) => {
        const period = annualPeriod(anchorFor(startAt, tz), tz, 0);
        const at = new Date(Date.parse(period.start) + Math.floor(f * (Date.parse(period.end) - Date.parse(period.start)))).toISOString();
        const { lines, amount: net } = prorationLines({ quantity: s1, unitAmount: unit, label: 'City' }, { quantity: s1 + extra, unitAmount: unit, label: 'City' }, period, at);
        expect(lines[0]!.amount).toBeLessThanOrEqual(0); // credit for the unused time of the old quantity
        expect(lines[1]!.amount).toBeGreaterThanOrEqual(0);
        expect(net).toBe(lines[0]!.amount + lines[1]!.amount);
        expect(Math.abs(net - prorate(extra * unit, period, at))).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('rounds half to even, also for negative numbers', () => {
    expect([5n, 15n, 25n, -5n, -15n, 7n, -7n].map((n) => divideHalfEven(n, 10n))).toEqual([0n, 2n, 2n, 0n, -2n, 1n, -1n]);
  });

  it('prorates a known case to the cent: half a common year left of $1,200', () => {
    const period = { start: '2027-01-01T00:00:00.000Z', end: '2028-01-01T00:00:00.000Z' };
    // 365 days; 182.5 days remain → exactly half.
    expect(prorate(120_000, period, '2027-07-02T12:00:00.000Z')).toBe(60_000);
    // 1 second remains: 120000 / 31536000 rounds to 0.
    expect(prorate(120_000, period, '2027-12-31T23:59:59.000Z')).toBe(0);
    // JPY, zero-decimal: ¥180,000 with 100 days of 365 left = 49315.07 → ¥49,315.
    expect(prorate(180_000, period, new Date(Date.parse(period.end) - 100 * 86_400_000).toISOString())).toBe(49_315);
  });
});

describe('annual periods in the organization time zone', () => {
  it('start at local midnight and chain without gaps, whatever the zone', () => {
    fc.assert(
      fc.property(instant, zone, fc.integer({ min: 0, max: 6 }), (at, tz, n) => {
        const anchor = anchorFor(at, tz);
        const p = annualPeriod(anchor, tz, n);
        const next = annualPeriod(anchor, tz, n + 1);
        expect(p.end).toBe(next.start);
        // The first instant of a local day: midnight, or 01:00 where the clocks jump over midnight (America/Santiago).
        const local = DateTime.fromISO(p.start, { zone: tz });
        expect(DateTime.fromMillis(local.toMillis() - 1, { zone: tz }).toISODate()).not.toBe(local.toISODate());
        expect([local.minute, local.second, local.millisecond]).toEqual([0, 0, 0]);
        expect(local.hour).toBeLessThanOrEqual(1);
        const days = DateTime.fromISO(p.end, { zone: tz }).diff(local, 'days').days;
        expect([365, 366]).toContain(Math.round(days));
      }),
      // Found by this property: 5 September 2027 has no local midnight in Santiago.
      { examples: [['2024-09-05T04:00:00.000Z', 'America/Santiago', 3]] },
    );
  });

  it('anchors on 29 February: 28 February in common years, 29 February again in leap years', () => {
    const anchor = anchorFor('2028-02-29T15:00:00Z', 'America/Chicago');
    expect(anchor).toBe('2028-02-29T06:00:00.000Z');
    const ends = [0, 1, 2, 3].map((n) => DateTime.fromISO(annualPeriod(anchor, 'America/Chicago', n).end, { zone: 'America/Chicago' }).toISODate());
    expect(ends).toEqual(['2029-02-28', '2030-02-28', '2031-02-28', '2032-02-29']);
  });

  it('counts a leap year as 366 days', () => {
    const p = annualPeriod(anchorFor('2027-06-01T12:00:00Z', 'UTC'), 'UTC', 0);
    expect((Date.parse(p.end) - Date.parse(p.start)) / 86_400_000).toBe(366);
  });
});
