import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { hourBucket } from './rollup.ts';

/** What hourBucket computed before it kept answers per quarter hour: Luxon's start of the local hour. */
const luxonHour = (time: string, zone: string) => DateTime.fromISO(time, { zone }).startOf('hour').toUTC().toISO();

// Half- and quarter-hour offsets, a half-hour DST shift (Lord Howe), DST both ways, local mean time with
// seconds before 1937 (Amsterdam +00:19:32) and a zone that skipped a day (Apia, 2011-12-30).
const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'America/St_Johns', 'Asia/Kolkata', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'Australia/Eucla', 'Europe/Amsterdam', 'Pacific/Apia', 'Pacific/Chatham'];

describe('hourBucket', () => {
  it('answers as Luxon does for any instant, zone and fraction, asked once or again', () => {
    const instant = fc.oneof(
      fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2040, 0, 1) }),
      // Around DST changes, where hours are skipped or repeated.
      fc.constantFrom(Date.UTC(2026, 2, 29, 1), Date.UTC(2026, 9, 25, 1), Date.UTC(2026, 2, 8, 7), Date.UTC(2026, 10, 1, 6), Date.UTC(2026, 3, 4, 14, 30), Date.UTC(2011, 11, 29, 10)).chain((t) => fc.integer({ min: t - 7_200_000, max: t + 7_200_000 })),
    );
    fc.assert(
      fc.property(instant, fc.constantFrom(...zones), fc.constantFrom('Z', '+00:00', '-03:30', '+05:45'), fc.constantFrom('', '.5', '.123456789'), (t, zone, suffix, fraction) => {
        const offsetMinutes = suffix === 'Z' ? 0 : (suffix[0] === '-' ? -1 : 1) * (Number(suffix.slice(1, 3)) * 60 + Number(suffix.slice(4)));
        const format = (at: number) => `${new Date(at + offsetMinutes * 60_000).toISOString().slice(0, 19)}${fraction}${suffix}`;
        // The first and last second of the instant's quarter hour too, so one answer is kept before the others are asked.
        const quarter = Math.floor(t / 900_000) * 900_000;
        for (const time of [format(quarter + 899_000), format(t), format(quarter), format(t)]) expect(hourBucket(time, zone)).toBe(luxonHour(time, zone));
      }),
      { numRuns: 20_000 },
    );
  });

  it('finds the half-hour steps of a zone that has them', () => {
    expect(hourBucket('2026-06-01T10:20:00Z', 'Asia/Kolkata')).toBe('2026-06-01T09:30:00.000Z');
    expect(hourBucket('2026-06-01T10:40:00Z', 'Asia/Kolkata')).toBe('2026-06-01T10:30:00.000Z');
    expect(hourBucket('2026-06-01T10:40:00Z', 'Asia/Kathmandu')).toBe('2026-06-01T10:15:00.000Z');
  });
});
