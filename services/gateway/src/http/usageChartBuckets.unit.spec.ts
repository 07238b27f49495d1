import { describe, expect, it } from 'vitest';
import { bucketStarts } from '../../web/src/buckets.ts';

describe('the usage chart\'s time axis', () => {
  it('spans the chosen range with every bucket, in the organization\'s zone', () => {
    const days = bucketStarts('2027-03-01T00:00:00Z', '2027-03-31T00:00:00Z', 'day', 'America/Chicago');
    // Local midnights in Chicago: 06:00Z before the DST change of 14 March, 05:00Z after.
    expect(days[0]).toBe('2027-02-28T06:00:00.000Z');
    expect(days).toContain('2027-03-14T06:00:00.000Z');
    expect(days).toContain('2027-03-15T05:00:00.000Z');
    expect(days.at(-1)).toBe('2027-03-30T05:00:00.000Z');
    expect(days).toHaveLength(31);
  });

  it('counts months and hours by the zone\'s calendar, offsets of half an hour included', () => {
    expect(bucketStarts('2027-01-15T00:00:00Z', '2027-04-01T00:00:00Z', 'month', 'Asia/Kolkata')).toEqual(['2026-12-31T18:30:00.000Z', '2027-01-31T18:30:00.000Z', '2027-02-28T18:30:00.000Z', '2027-03-31T18:30:00.000Z']);
    expect(bucketStarts('2027-05-10T00:00:00Z', '2027-05-10T03:00:00Z', 'hour', 'Asia/Kolkata')).toEqual(['2027-05-09T23:30:00.000Z', '2027-05-10T00:30:00.000Z', '2027-05-10T01:30:00.000Z', '2027-05-10T02:30:00.000Z']);
    expect(bucketStarts('2027-05-10T00:00:00Z', '2027-05-10T00:00:00Z', 'day', 'UTC')).toEqual([]);
  });
});
