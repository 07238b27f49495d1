import type { ChargeLine } from '@curbmap/contracts';
import type { Period } from './billingPeriod.ts';

/** Integer division rounding half to even, on exact integers (no floating point anywhere). */
export function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  const q = numerator / denominator;
  const r = numerator % denominator;
  const twice = 2n * (r < 0n ? -r : r);
  if (twice < denominator) return q;
  if (twice > denominator || q % 2n !== 0n) return numerator < 0n ? q - 1n : q + 1n;
  return q;
}

/**
 * Stripe's proration rule: the amount times the time remaining in the period over the period's length,
 * both counted in whole seconds, rounded to the minor unit.
 */
export function prorate(amount: number, period: Period, at: string): number {
  const start = Math.floor(Date.parse(period.start) / 1000);
  const end = Math.floor(Date.parse(period.end) / 1000);
  const now = Math.floor(Date.parse(at) / 1000);
  const remaining = Math.min(Math.max(end - now, 0), end - start);
  return Number(divideHalfEven(BigInt(amount) * BigInt(remaining), BigInt(end - start)));
}

/**
 * A mid-period change as Stripe invoices it: a credit for the unused time of what was bought and a charge for
 * the remaining time of what is bought now, each prorated and rounded on its own.
 */
export function prorationLines(
  before: { quantity: number; unitAmount: number; label: string },
  after: { quantity: number; unitAmount: number; label: string },
  period: Period,
  at: string,
): { lines: ChargeLine[]; amount: number } {
  const from = new Date(Math.max(Date.parse(at), Date.parse(period.start))).toISOString();
  const credit = -prorate(before.quantity * before.unitAmount, period, at);
  const charge = prorate(after.quantity * after.unitAmount, period, at);
  const lines: ChargeLine[] = [
    { description: `Unused time on ${before.quantity} × ${before.label}`, quantity: before.quantity, unitAmount: before.unitAmount, amount: credit, periodStart: from, periodEnd: period.end },
    { description: `Remaining time on ${after.quantity} × ${after.label}`, quantity: after.quantity, unitAmount: after.unitAmount, amount: charge, periodStart: from, periodEnd: period.end },
  ];
  return { lines, amount: credit + charge };
}
