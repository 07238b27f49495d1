import type { ChargeLine, TaxSettings } from '@curbmap/contracts';

/** No tax: what an organization's invoices carry until the operator sets its tax. */
export const NO_TAX: TaxSettings = { rateBasisPoints: 0, mode: 'exclusive', note: null };

/** a / b rounded half away from zero, in integers (exact for any safe amounts: no floating point). */
function divideRounded(a: number, b: number): number {
  const sign = Math.sign(a) * Math.sign(b);
  const [n, d] = [BigInt(Math.abs(a)), BigInt(Math.abs(b))];
  const q = (2n * n + d) / (2n * d);
  return sign * Number(q);
}

/**
 * The tax of one line, in the invoice currency's minor units, rounded half away from zero per line (the
 * invoice's tax is the sum of its lines'): exclusive, amount × rate; inclusive, the part of the amount that is
 * tax, amount − amount ÷ (1 + rate).
 */
export function lineTax(amount: number, tax: TaxSettings): number {
  if (tax.rateBasisPoints === 0) return 0;
  if (tax.mode === 'exclusive') return divideRounded(amount * tax.rateBasisPoints, 10_000);
  return amount - divideRounded(amount * 10_000, 10_000 + tax.rateBasisPoints);
}

/** Subtotal (before tax), tax and total of an invoice's lines. */
export function invoiceTotals(lines: Pick<ChargeLine, 'amount'>[], tax: TaxSettings): { subtotal: number; taxAmount: number; total: number } {
  const amounts = lines.reduce((sum, l) => sum + l.amount, 0);
  const taxAmount = lines.reduce((sum, l) => sum + lineTax(l.amount, tax), 0);
  return tax.mode === 'exclusive' ? { subtotal: amounts, taxAmount, total: amounts + taxAmount } : { subtotal: amounts - taxAmount, taxAmount, total: amounts };
}
