import { describe, expect, it } from 'vitest';
import { invoicingJournal, monthBounds, revenueReport } from './revenueReport.ts';
import { allocate, recognisedAt, reversalOf, type RevenueInvoice, type RevenueLine } from './revenueSchedule.ts';

const CHICAGO = 'America/Chicago';
/** An invoice of the given lines, issued at `issuedAt`, taxed at `taxRate` (exclusive). */
function invoice(lines: RevenueLine[], issuedAt: string, options: { timeZone?: string; currency?: string; taxAmount?: number; id?: string } = {}): RevenueInvoice {
  const subtotal = lines.reduce((sum, l) => sum + l.net, 0);
  const taxAmount = options.taxAmount ?? 0;
  return { id: options.id ?? 'inv-1', organizationId: 'org-1', number: 'CM-2028-000001', currency: options.currency ?? 'USD', timeZone: options.timeZone ?? CHICAGO, issuedAt, eventId: 'evt-issued', subtotal, taxAmount, total: subtotal + taxAmount, lines, reversals: [] };
}
const months = (year: number) => Array.from({ length: 12 }, (_, m) => `${year}-${String(m + 1).padStart(2, '0')}`);
const recognisedIn = (inv: RevenueInvoice, month: string) => {
  const { start, end } = monthBounds(month, inv.timeZone);
  return recognisedAt(inv, end) - recognisedAt(inv, start);
};

// A year of Chicago: local midnight of 1 January 2028 (UTC−6) to that of 1 January 2029; 2028 is a leap year.
const leapYear: RevenueLine = { net: 366_000, periodStart: '2028-01-01T06:00:00.000Z', periodEnd: '2029-01-01T06:00:00.000Z', atIssue: false };

describe('revenue recognition', () => {
  it('recognises a year day by day in the organization\'s zone: 29 days of February in a leap year, the whole line by its end', () => {
    const inv = invoice([leapYear], '2028-01-01T06:00:00.000Z');
    // 1,000 a day: each month its days.
    expect(months(2028).map((m) => recognisedIn(inv, m))).toEqual([31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31].map((d) => d * 1_000));
    expect(recognisedAt(inv, '2029-06-01T05:00:00.000Z')).toBe(366_000);
    expect(recognisedAt(inv, '2028-01-01T06:00:00.000Z')).toBe(0);
  });

  it('in yen: whole yen a day, rounded on the running total so the months add up to the line', () => {
    // 100,000 JPY over 1 April 2026 – 1 April 2027 in Tokyo (365 days).
    const line: RevenueLine = { net: 100_000, periodStart: '2026-03-31T15:00:00.000Z', periodEnd: '2027-03-31T15:00:00.000Z', atIssue: false };
    const inv = invoice([line], '2026-03-31T15:00:00.000Z', { timeZone: 'Asia/Tokyo', currency: 'JPY' });
    const byMonth = [...months(2026).slice(3), ...months(2027).slice(0, 3)].map((m) => recognisedIn(inv, m));
    // April: round(100,000 × 30 / 365) = 8,219; through May: round(100,000 × 61 / 365) = 16,712, so May 8,493.
    expect(byMonth.slice(0, 2)).toEqual([8_219, 8_493]);
    expect(byMonth.reduce((a, b) => a + b, 0)).toBe(100_000);
  });

  it('a mid-term seat increase is recognised over what is left of the year, from its first (partial) day', () => {
    // Billed at local noon on 1 July 2028 for the rest of the year: 184 days (1 July – 31 December).
    const proration: RevenueLine = { net: 60_000, periodStart: '2028-07-01T17:00:00.000Z', periodEnd: '2029-01-01T06:00:00.000Z', atIssue: false };
    const inv = invoice([proration], '2028-07-01T17:00:00.000Z');
    // July: round(60,000 × 31 / 184) = 10,109 (10,108.69…); nothing before it was billed.
    expect(recognisedIn(inv, '2028-06')).toBe(0);
    expect(recognisedIn(inv, '2028-07')).toBe(10_109);
    expect(months(2028).reduce((sum, m) => sum + recognisedIn(inv, m), 0)).toBe(60_000);
  });

  it('nothing before it is billed: a line billed after its period began catches up in the month it is issued', () => {
    const inv = invoice([leapYear], '2028-03-10T15:00:00.000Z');
    expect(recognisedIn(inv, '2028-02')).toBe(0);
    // January to March at once: 91 days.
    expect(recognisedIn(inv, '2028-03')).toBe(91_000);
  });

  it('usage overage is recognised when billed', () => {
    const overage: RevenueLine = { net: 5_000, periodStart: '2027-05-10T05:00:00.000Z', periodEnd: '2028-05-10T05:00:00.000Z', atIssue: true };
    const inv = invoice([overage], '2028-05-10T06:01:00.000Z');
    expect(recognisedIn(inv, '2028-04')).toBe(0);
    expect(recognisedIn(inv, '2028-05')).toBe(5_000);
  });

  it('a credit note reverses from its date on: what was recognised at once, the rest day by day', () => {
    const inv = invoice([leapYear], '2028-01-01T06:00:00.000Z');
    inv.reversals.push(reversalOf(inv, { eventId: 'evt-cn', kind: 'credit_note', at: '2028-03-15T18:00:00.000Z', gross: 36_600 }));
    expect(inv.reversals[0]).toMatchObject({ net: 36_600, tax: 0, lines: [36_600] });
    // March: the line's 31,000 less the reversal's January–March (91 of 366 days of 36,600: 9,100).
    expect(recognisedIn(inv, '2028-02')).toBe(29_000);
    expect(recognisedIn(inv, '2028-03')).toBe(31_000 - 9_100);
    // April on: 900 a day (1,000 less 100).
    expect(recognisedIn(inv, '2028-04')).toBe(30 * 900);
    const [march] = revenueReport([inv], '2028-03');
    // Deferred at the end of March: 329,400 left to recognise × 275 of 366 days = 247,500.
    expect(march).toEqual({ organizationId: 'org-1', currency: 'USD', openingDeferred: 366_000 - 60_000, billed: 0, reversed: 36_600, recognised: 21_900, closingDeferred: 247_500 });
  });

  it('splits a taxed credit note as the invoice\'s total splits, and a void reverses what is left', () => {
    const lines: RevenueLine[] = [
      { ...leapYear, net: 80_000 },
      { ...leapYear, net: 20_000, atIssue: true },
    ];
    const inv = invoice(lines, '2028-01-01T06:00:00.000Z', { taxAmount: 20_000 });
    const credit = reversalOf(inv, { eventId: 'evt-cn', kind: 'credit_note', at: '2028-02-01T06:00:00.000Z', gross: 12_000 });
    // 12,000 of 120,000: 10,000 net (8,000 and 2,000 of the lines) and 2,000 tax.
    expect(credit).toMatchObject({ gross: 12_000, net: 10_000, tax: 2_000, lines: [8_000, 2_000] });
    inv.reversals.push(credit);
    const voided = reversalOf(inv, { eventId: 'evt-void', kind: 'void', at: '2028-06-10T12:00:00.000Z', gross: 'rest' });
    expect(voided).toMatchObject({ gross: 108_000, net: 90_000, tax: 18_000, lines: [72_000, 18_000] });
    inv.reversals.push(voided);
    // After the void nothing is left, recognised or deferred.
    expect(recognisedAt(inv, '2029-02-01T06:00:00.000Z')).toBe(0);
    const [december] = revenueReport([inv], '2028-12');
    expect(december!.closingDeferred).toBe(0);
  });

  it('each month\'s closing is the next one\'s opening, every month balances, and so does the journal', () => {
    const inv = invoice([leapYear, { net: -10_000, periodStart: '2028-04-01T05:00:00.000Z', periodEnd: '2029-01-01T06:00:00.000Z', atIssue: false }], '2028-01-01T06:00:00.000Z', { taxAmount: 35_600 });
    inv.reversals.push(reversalOf(inv, { eventId: 'evt-cn', kind: 'credit_note', at: '2028-07-20T12:00:00.000Z', gross: 10_001 }));
    let opening = 0;
    let recognised = 0;
    for (const month of months(2028)) {
      const [row] = revenueReport([inv], month);
      expect(row!.openingDeferred).toBe(opening);
      expect(row!.closingDeferred).toBe(row!.openingDeferred + row!.billed - row!.reversed - row!.recognised);
      const journal = invoicingJournal([inv], month);
      expect(journal.reduce((sum, l) => sum + l.debit, 0)).toBe(journal.reduce((sum, l) => sum + l.credit, 0));
      expect(journal.every((l) => ['evt-issued', 'evt-cn'].includes(l.sourceEventId))).toBe(true);
      opening = row!.closingDeferred;
      recognised += row!.recognised;
    }
    // By the year's end: recognised + deferred = billed − reversed.
    expect(recognised + opening).toBe(inv.subtotal - inv.reversals[0]!.net);
    expect(opening).toBe(0);
  });

  it('allocates in proportion, parts adding up exactly, with negative weights too', () => {
    expect(allocate(100, [1, 1, 1])).toEqual([34, 33, 33]);
    expect(allocate(-7, [2, 2])).toEqual([-4, -3]);
    expect(allocate(90, [100, -10])).toEqual([100, -10]);
    expect(allocate(0, [5])).toEqual([0]);
    // Weights adding up to less than zero (a credit invoice): the parts keep the amount's sign and sum.
    expect(allocate(-20, [30, -50])).toEqual([30, -50]);
    expect(allocate(10, [-5, -5])).toEqual([5, 5]);
  });

  it('never reverses more than is left: many small credit notes end exactly at the invoice, tax included', () => {
    const inv = invoice([{ ...leapYear, net: 100 }], '2028-01-01T06:00:00.000Z', { taxAmount: 20 });
    for (let k = 0; k < 24; k++) inv.reversals.push(reversalOf(inv, { eventId: `cn-${k}`, kind: 'credit_note', at: '2028-02-01T06:00:00.000Z', gross: 5 }));
    expect(inv.reversals.reduce((sum, r) => sum + r.net, 0)).toBe(100);
    expect(inv.reversals.reduce((sum, r) => sum + r.tax, 0)).toBe(20);
    expect(inv.reversals.every((r) => r.tax >= 0 && r.net >= 0)).toBe(true);
    expect(recognisedAt(inv, '2029-02-01T06:00:00.000Z')).toBe(0);
  });
});
