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

const zones = ['UTC', 'America/New_York', 'America/Los_Angeles', 'Europe/Paris', 'Asia/Tokyo', 'Australia/Sydney', 'Pacific/Chatham'];
const zone = fc.constantFrom(...zones);
// 2023–2031 spans the leap years 2024 and 2028.
const instant = fc.integer({ min: Date.UTC(2023, 0, 1), max: Date.UTC(2031, 0, 1) }).map((ms) => new Date(ms).toISOString());
// USD and EUR in cents, JPY (zero-decimal) in yen: all integers, up to a few million seats' worth.
const amount = fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 9_000_000_000_000 }));

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
        const local = DateTime.fromISO(p.start, { zone: tz });
        expect([local.hour, local.minute, local.second]).toEqual([0, 0, 0]);
        const days = DateTime.fromISO(p.end, { zone: tz }).diff(local, 'days').days;
        expect([365, 366]).toContain(Math.round(days));
      }),
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
