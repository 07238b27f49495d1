import { describe, expect, it } from 'vitest';
import { adjustmentLine, overageLines, type OveragePrice } from './overageInvoicing.ts';

const closed = (totals: { meter: string; total: number | null; included: number | null }[]) => ({
  periodStart: '2027-05-10T05:00:00.000Z',
  periodEnd: '2028-05-10T05:00:00.000Z',
  planId: 'city',
  totals: totals.map((t) => ({ ...t, meter: t.meter, aggregation: 'count' as const })),
});
const pricing: Record<string, { unitSize: number; prices: Record<string, number> }> = { api_requests: { unitSize: 1000, prices: { USD: 50, JPY: 75 } }, curb_zones: { unitSize: 100, prices: { USD: 1_000 } } };
const price: OveragePrice = (_plan, meter) => pricing[meter] ?? null;

describe('overage lines', () => {
  it('bill whole units of the unit size, rounded up, in the subscription\'s currency; nothing within the included amount', () => {
    const lines = overageLines(closed([{ meter: 'api_requests', total: 1_002_001, included: 1_000_000 }, { meter: 'curb_zones', total: 5_000, included: 5_000 }]), 'USD', price);
    expect(lines.map((l) => [l.quantity, l.unitAmount, l.amount])).toEqual([[3, 50, 150]]);
    // JPY has no minor unit: the price is in yen.
    expect(overageLines(closed([{ meter: 'api_requests', total: 1_001_000, included: 1_000_000 }]), 'JPY', price).map((l) => l.amount)).toEqual([75]);
  });

  it('leaves out meters without a price, without an included amount, or without a price in the currency', () => {
    expect(overageLines(closed([{ meter: 'edits', total: 10, included: 1 }, { meter: 'api_requests', total: 5, included: null }, { meter: 'curb_zones', total: 10_000, included: 5_000 }]), 'JPY', price)).toEqual([]);
  });

  it('bill an adjustment after the close for the units it adds, and credit those it removes', () => {
    const adjustment = (previousTotal: number, total: number) => ({ periodStart: '2027-05-10T05:00:00.000Z', periodEnd: '2028-05-10T05:00:00.000Z', planId: 'city', meter: 'api_requests', previousTotal, total, delta: total - previousTotal, sourceEventId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' });
    const included = () => 1_000_000;
    // 1,000,500 was billed as 1 unit; 1,002,100 is 3 units: 2 more.
    expect(adjustmentLine(adjustment(1_000_500, 1_002_100), 'USD', price, included)).toMatchObject({ quantity: 2, unitAmount: 50, amount: 100, credit: false });
    expect(adjustmentLine(adjustment(1_000_500, 1_000_900), 'USD', price, included)).toBeNull();
    expect(adjustmentLine(adjustment(1_002_100, 1_000_500), 'USD', price, included)).toMatchObject({ quantity: 2, unitAmount: 50, amount: 100, credit: true });
    expect(adjustmentLine(adjustment(1_002_100, 999_000), 'USD', price, included)).toMatchObject({ quantity: 3, amount: 150, credit: true });
    expect(adjustmentLine(adjustment(900_000, 999_999), 'USD', price, included)).toBeNull();
  });
});
