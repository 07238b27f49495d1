import { DateTime } from 'luxon';
import { mulDivRounded } from '../tax/invoiceTax.ts';

/**
 * Revenue recognition of invoices, in integer minor units (rules: docs/architecture/invoicing.md § Revenue).
 * - A line's net amount (before tax) is recognised day by day over its service period in the organization's zone:
 *   through a day, round(net × days elapsed ÷ days in the period), so the days add up to the line exactly. A
 *   period that starts mid-day counts its first day whole; the days are calendar days (a 23-hour day is a day).
 * - A usage line (overage) is recognised when it is billed: its period has closed by then.
 * - Nothing is recognised before it is billed: a line billed after its period began catches up on its issue day.
 * - A credit note, a void, or a refund that leaves the invoice paid (Stripe's) reverses what it cancels from its
 *   date on: its net amount, allocated over the lines in proportion to what is left of them, is taken back as those
 *   lines were recognised (what had been recognised by then at once, the rest day by day). A refund that reopens
 *   the invoice (a bank transfer's) reverses no revenue: the customer owes it again.
 */
export interface RevenueLine {
  net: number;
  periodStart: string;
  periodEnd: string;
  /** Usage overage: recognised when billed. */
  atIssue: boolean;
}

export interface Reversal {
  /** The event that reverses (credit note issued, invoice voided, a card refund that left the invoice paid). */
  eventId: string;
  kind: 'credit_note' | 'void' | 'refund';
  at: string;
  gross: number;
  net: number;
  tax: number;
  /** The net reversed of each line, in the invoice's line order. */
  lines: number[];
}

export interface RevenueInvoice {
  id: string;
  organizationId: string;
  number: string;
  currency: string;
  /** The organization's zone when the invoice was drawn up: its days and months. */
  timeZone: string;
  issuedAt: string;
  /** invoice.invoice.finalized's id: the journal's source of the invoice and of its recognition. */
  eventId: string;
  /** A mirror of Stripe's invoice: Stripe collects it (a negative total is Stripe's credit, not ours). */
  stripe?: boolean;
  subtotal: number;
  taxAmount: number;
  total: number;
  lines: RevenueLine[];
  reversals: Reversal[];
}


/** The organization's calendar day of an instant, as a day number (days since 1970-01-01 of that calendar). */
export function dayNumber(instant: string, timeZone: string): number {
  const local = DateTime.fromISO(instant, { zone: timeZone });
  return Math.round(Date.UTC(local.year, local.month - 1, local.day) / 86_400_000);
}

/** A line's amount recognised through the day before the one `at` falls on, at that rate. */
function recognisedBy(amount: number, line: RevenueLine, atDay: number, timeZone: string): number {
  if (line.atIssue) return amount;
  const start = dayNumber(line.periodStart, timeZone);
  const days = Math.max(1, dayNumber(line.periodEnd, timeZone) - start);
  const elapsed = Math.min(days, Math.max(0, atDay - start));
  return mulDivRounded(amount, elapsed, days);
}

/**
 * What the invoice's lines have recognised by an instant (a local midnight: a month's start), and what each
 * reversal has taken back of them by then: lines from their issue, each reversal's part of them from its date.
 * By an instant means before it: what happens at a month's first instant is that month's.
 */
function recognisedParts(invoice: RevenueInvoice, instant: string): { lines: number; reversals: number[] } {
  const t = Date.parse(instant);
  if (t <= Date.parse(invoice.issuedAt)) return { lines: 0, reversals: invoice.reversals.map(() => 0) };
  const day = dayNumber(instant, invoice.timeZone);
  const part = (amounts: number[]) => amounts.reduce((sum, amount, i) => sum + recognisedBy(amount, invoice.lines[i]!, day, invoice.timeZone), 0);
  return { lines: part(invoice.lines.map((l) => l.net)), reversals: invoice.reversals.map((r) => (t <= Date.parse(r.at) ? 0 : part(r.lines))) };
}

/** What the invoice has recognised by an instant, net of its reversals. */
export function recognisedAt(invoice: RevenueInvoice, instant: string): number {
  const { lines, reversals } = recognisedParts(invoice, instant);
  return lines - reversals.reduce((sum, r) => sum + r, 0);
}

/** Recognition within [from, to): what the lines recognised less what reversals took back, apart. */
export function recognisedBetween(invoice: RevenueInvoice, from: string, to: string): { lines: number; reversals: { eventId: string; amount: number }[] } {
  const [start, end] = [recognisedParts(invoice, from), recognisedParts(invoice, to)];
  return {
    lines: end.lines - start.lines,
    reversals: invoice.reversals.map((r, k) => ({ eventId: r.eventId, amount: end.reversals[k]! - start.reversals[k]! })).filter((r) => r.amount !== 0),
  };
}

/**
 * A credit note's (or void's) reversal: `gross` splits into net and tax as the invoice's total does; the net is
 * allocated over the lines in proportion to what earlier reversals left of each (largest remainders, so the parts
 * add up exactly). A void reverses everything left.
 */
export function reversalOf(invoice: Pick<RevenueInvoice, 'lines' | 'reversals' | 'subtotal' | 'taxAmount' | 'total'>, event: { eventId: string; kind: Reversal['kind']; at: string; gross: number | 'rest' }): Reversal {
  const netLeft = invoice.subtotal - invoice.reversals.reduce((sum, r) => sum + r.net, 0);
  const taxLeft = invoice.taxAmount - invoice.reversals.reduce((sum, r) => sum + r.tax, 0);
  let gross: number;
  let net: number;
  // What reaches (or passes) what is left takes exactly the rest: many small credits never leave a rounding residue.
  if (event.gross === 'rest' || event.gross >= netLeft + taxLeft) [gross, net] = [netLeft + taxLeft, netLeft];
  else {
    gross = event.gross;
    net = invoice.total === 0 ? 0 : Math.min(netLeft, mulDivRounded(gross, invoice.subtotal, invoice.total));
    // Nor more tax than is left.
    net = Math.max(net, gross - taxLeft);
  }
  const left = invoice.lines.map((line, i) => line.net - invoice.reversals.reduce((sum, r) => sum + (r.lines[i] ?? 0), 0));
  return { eventId: event.eventId, kind: event.kind, at: event.at, gross, net, tax: gross - net, lines: allocate(net, left) };
}

/** `amount` split in proportion to `weights` (which may be negative: credit lines), parts summing to it exactly. */
export function allocate(amount: number, weights: number[]): number[] {
  const base = weights.reduce((sum, w) => sum + w, 0);
  if (base === 0 || amount === 0) return weights.map(() => 0);
  // In positive terms (the signs of amount and base set apart): floors, then one unit more for the largest remainders.
  // q_i = |amount| × w_i × sign(base) add up to |amount| × |base|: parts are sign(amount) × q_i ÷ |base|.
  const sign = BigInt(Math.sign(amount));
  const [a, b] = [BigInt(Math.abs(amount)), BigInt(Math.abs(base))];
  const scaled = weights.map((w) => a * BigInt(w) * BigInt(Math.sign(base)));
  const floors = scaled.map((n) => n / b - (n % b !== 0n && n < 0n ? 1n : 0n));
  const remainders = scaled.map((n, i) => n - floors[i]! * b);
  let short = a - floors.reduce((sum, f) => sum + f, 0n);
  const order = remainders.map((r, i) => ({ r, i })).sort((x, y) => (y.r > x.r ? 1 : y.r < x.r ? -1 : x.i - y.i));
  for (let k = 0; short > 0n; k++, short--) floors[order[k % order.length]!.i]! += 1n;
  return floors.map((f) => Number(f * sign));
}
