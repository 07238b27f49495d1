import { describe, expect, it } from 'vitest';
import { isInstant } from './eventRegistry.ts';

describe('isInstant', () => {
  it('knows every month length, leap years by the Gregorian rule included', () => {
    for (let year = 1970; year < 2200; year++) {
      for (let month = 1; month <= 12; month++) {
        // The calendar's own answer: day 0 of the next month is the last day of this one.
        const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
        const date = `${year}-${String(month).padStart(2, '0')}`;
        expect(isInstant(`${date}-${last}T00:00:00Z`), `${date}-${last}`).toBe(true);
        expect(isInstant(`${date}-${last + 1}T00:00:00Z`), `${date}-${last + 1}`).toBe(false);
      }
    }
  });

  it('refuses what JavaScript would bend into another instant, and what lies outside 1970–2199', () => {
    for (const bad of ['2026-12-31T23:59:60Z', '2026-12-31T24:00:00Z', '2026-12-31T23:60:00Z', '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z', '2026-01-00T00:00:00Z', '1969-12-31T23:59:59Z', '2200-01-01T00:00:00Z', '2026-01-01 00:00:00Z', '2026-01-01T00:00:00']) {
      expect(isInstant(bad), bad).toBe(false);
    }
    for (const good of ['2026-01-01T00:00:00Z', '2026-01-01t00:00:00z', '2026-06-30T23:59:59.123456789+05:45', '2000-02-29T12:00:00-03:30']) expect(isInstant(good), good).toBe(true);
  });
});
