import { DateTime } from 'luxon';
import { recognisedAt, recognisedBetween, type RevenueInvoice } from './revenueSchedule.ts';

/** A month of one organization's revenue in one currency: deferred at its start and end, and what moved it. */
export interface RevenueRow {
  organizationId: string;
  currency: string;
  openingDeferred: number;
  billed: number;
  /** Credit notes and voids (their net amount). */
  reversed: number;
  recognised: number;
  closingDeferred: number;
}

/** One side of a double entry. */
export interface JournalLine {
  date: string;
  organizationId: string;
  currency: string;
  account: 'receivables' | 'deferred_revenue' | 'revenue' | 'tax_payable' | 'cash' | 'customer_credit';
  debit: number;
  credit: number;
  /** The event it comes from. */
  sourceEventId: string;
  memo: string;
}

/** The instants a month (YYYY-MM) starts and ends in a zone: [local midnight of the 1st, of the next 1st). */
export function monthBounds(month: string, timeZone: string): { start: string; end: string } {
  const start = DateTime.fromISO(`${month}-01`, { zone: timeZone });
  return { start: start.toUTC().toISO()!, end: start.plus({ months: 1 }).toUTC().toISO()! };
}

const key = (i: Pick<RevenueInvoice, 'organizationId' | 'currency'>) => `${i.organizationId}|${i.currency}`;
/** Is instant a before b (ISO instants of any precision)? */
const before = (a: string, b: string) => Date.parse(a) < Date.parse(b);

/**
 * Deferred revenue per organization and currency over a month of each invoice's zone. Deferred at an instant is
 * what was billed by then less what was reversed and recognised by then, so a month's closing is the next one's
 * opening by construction, and closing = opening + billed − reversed − recognised.
 */
export function revenueReport(invoices: RevenueInvoice[], month: string): RevenueRow[] {
  const rows = new Map<string, RevenueRow>();
  for (const invoice of invoices) {
    const { start, end } = monthBounds(month, invoice.timeZone);
    if (!before(invoice.issuedAt, end)) continue;
    const row = rows.get(key(invoice)) ?? { organizationId: invoice.organizationId, currency: invoice.currency, openingDeferred: 0, billed: 0, reversed: 0, recognised: 0, closingDeferred: 0 };
    rows.set(key(invoice), row);
    const deferredAt = (instant: string) => (before(invoice.issuedAt, instant) ? invoice.subtotal : 0) - invoice.reversals.filter((r) => before(r.at, instant)).reduce((sum, r) => sum + r.net, 0) - recognisedAt(invoice, instant);
    row.openingDeferred += deferredAt(start);
    row.closingDeferred += deferredAt(end);
    if (!before(invoice.issuedAt, start)) row.billed += invoice.subtotal;
    row.reversed += invoice.reversals.filter((r) => !before(r.at, start) && before(r.at, end)).reduce((sum, r) => sum + r.net, 0);
    row.recognised += recognisedAt(invoice, end) - recognisedAt(invoice, start);
  }
  return [...rows.values()].sort((a, b) => a.organizationId.localeCompare(b.organizationId) || a.currency.localeCompare(b.currency));
}

/**
 * The month's double entries from invoicing: an invoice debits receivables with its total and credits deferred
 * revenue (net) and tax payable; a credit note or void does the reverse for what it cancels; each invoice's
 * recognition in the month moves deferred revenue to revenue (its reversals' the other way). Each entry balances,
 * so debits equal credits per currency.
 */
export function invoicingJournal(invoices: RevenueInvoice[], month: string): JournalLine[] {
  const lines: JournalLine[] = [];
  for (const invoice of invoices) {
    const { start, end } = monthBounds(month, invoice.timeZone);
    if (!before(invoice.issuedAt, end)) continue;
    const base = { organizationId: invoice.organizationId, currency: invoice.currency };
    const day = (instant: string) => DateTime.fromISO(instant, { zone: invoice.timeZone }).toISODate()!;
    const monthEnd = DateTime.fromISO(end, { zone: invoice.timeZone }).minus({ days: 1 }).toISODate()!;
    const entry = (date: string, sourceEventId: string, memo: string, sides: [JournalLine['account'], number][]) => {
      for (const [account, amount] of sides) {
        if (amount === 0) continue;
        lines.push({ ...base, date, account, debit: amount > 0 ? amount : 0, credit: amount < 0 ? -amount : 0, sourceEventId, memo });
      }
    };
    if (!before(invoice.issuedAt, start)) {
      entry(day(invoice.issuedAt), invoice.eventId, `invoice ${invoice.number} issued`, [['receivables', invoice.total], ['deferred_revenue', -invoice.subtotal], ['tax_payable', -invoice.taxAmount]]);
      // A negative total (a proration whose credit exceeds its charge) is owed to the customer: billing makes it credit.
      if (invoice.total < 0 && !invoice.stripe) entry(day(invoice.issuedAt), invoice.eventId, `invoice ${invoice.number}: its negative total becomes credit`, [['receivables', -invoice.total], ['customer_credit', invoice.total]]);
    }
    for (const r of invoice.reversals) {
      // A credit note or void takes back what the invoice asked; a refund that left it paid, money.
      if (!before(r.at, start) && before(r.at, end)) entry(day(r.at), r.eventId, `invoice ${invoice.number} ${{ void: 'voided', credit_note: 'credited', refund: 'refunded' }[r.kind]}`, [['deferred_revenue', r.net], ['tax_payable', r.tax], [r.kind === 'refund' ? 'cash' : 'receivables', -r.gross]]);
    }
    const recognised = recognisedBetween(invoice, start, end);
    if (recognised.lines !== 0) entry(monthEnd, invoice.eventId, `invoice ${invoice.number} recognised`, [['deferred_revenue', recognised.lines], ['revenue', -recognised.lines]]);
    for (const r of recognised.reversals) entry(monthEnd, r.eventId, `invoice ${invoice.number} reversal recognised`, [['revenue', r.amount], ['deferred_revenue', -r.amount]]);
  }
  return lines;
}
