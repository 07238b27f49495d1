import type { ChargeLine, TaxSettings } from '@curbmap/contracts';

/** No tax: what an organization's invoices carry until the operator sets its tax. */
export const NO_TAX: TaxSettings = { rateBasisPoints: 0, mode: 'exclusive', note: null };

/** a × b ÷ c rounded half away from zero, exactly (BigInt: the product may pass 2^53). Tax and revenue round by it. */
export function mulDivRounded(a: number, b: number, c: number): number {
  const sign = Math.sign(a) * Math.sign(b) * Math.sign(c);
  const [n, d] = [BigInt(Math.abs(a)) * BigInt(Math.abs(b)), BigInt(Math.abs(c))];
  return sign * Number((2n * n + d) / (2n * d));
}

/**
 * The tax of one line, in the invoice currency's minor units, rounded half away from zero per line (the
 * invoice's tax is the sum of its lines'): exclusive, amount × rate; inclusive, the part of the amount that is
 * tax, amount − amount ÷ (1 + rate).
 */
export function lineTax(amount: number, tax: TaxSettings): number {
  if (tax.rateBasisPoints === 0) return 0;
  if (tax.mode === 'exclusive') return mulDivRounded(amount, tax.rateBasisPoints, 10_000);
  return amount - mulDivRounded(amount, 10_000, 10_000 + tax.rateBasisPoints);
}

/**
 * The smallest line amount, at least `net`, whose net of tax is at least `net`: with tax included in amounts, `net`
 * grossed up; otherwise `net` itself. From the exact quotient, a step or two either way (the net of an amount never
 * falls as the amount grows), not a walk up from `net`.
 */
export function grossedUp(net: number, tax: TaxSettings): number {
  if (tax.mode !== 'inclusive' || tax.rateBasisPoints === 0) return net;
  const netOf = (amount: number) => amount - lineTax(amount, tax);
  let amount = Math.max(net, mulDivRounded(net, 10_000 + tax.rateBasisPoints, 10_000));
  while (amount > net && netOf(amount - 1) >= net) amount -= 1;
  while (netOf(amount) < net) amount += 1;
  return amount;
}

/** Subtotal (before tax), tax and total of an invoice's lines. */
export function invoiceTotals(lines: Pick<ChargeLine, 'amount'>[], tax: TaxSettings): { subtotal: number; taxAmount: number; total: number } {
  const amounts = lines.reduce((sum, l) => sum + l.amount, 0);
  const taxAmount = lines.reduce((sum, l) => sum + lineTax(l.amount, tax), 0);
  return tax.mode === 'exclusive' ? { subtotal: amounts, taxAmount, total: amounts + taxAmount } : { subtotal: amounts - taxAmount, taxAmount, total: amounts };
}
