import type { BillingEvent, InvoiceEvent } from '@curbmap/contracts';
import { updateOnce, type AppliedVersions, type Document, type Projection } from '@curbmap/eventsourcing';
import { lineTax } from '../domain/tax/invoiceTax.ts';
import { reversalOf, type Reversal, type RevenueInvoice } from '../domain/revenue/revenueSchedule.ts';
import type { JournalLine } from '../domain/revenue/revenueReport.ts';

export const revenueCollections = { invoices: 'revenue_invoices', cash: 'revenue_cash' } as const;

/**
 * An invoice as revenue recognition reads it (id: the invoice's), finalized or not yet. `pendingRefunds`: refunds
 * seen before the invoice was (billing's and invoice's events come on different topics on Kafka, in either order).
 */
export type RevenueInvoiceView = Document & Partial<Omit<RevenueInvoice, 'id' | 'organizationId'>> & { timeZone: string; finalized: boolean; pendingRefunds?: { eventId: string; at: string; gross: number }[] };

/** A movement of money or credit (id: its event's), with its sides: debits positive, credits negative. */
export interface CashMovementView extends Document {
  currency: string;
  at: string;
  memo: string;
  sides: [JournalLine['account'], number][];
}

type Invoicing = Extract<InvoiceEvent, { type: 'invoice.invoice.drafted' | 'invoice.invoice.finalized' | 'invoice.credit_note.issued' | 'invoice.invoice.voided' }>;
type Money = Extract<BillingEvent, { type: 'billing.payment.succeeded' | 'billing.payment.invoice_linked' | 'billing.payment.refunded' | 'billing.receivable.credited' | 'billing.receivable.canceled' }>;

/**
 * Invoices with their service periods and reversals, and the movements of money and credit, for the revenue
 * report and the journal. An invoice's events come in its stream's order; each write happens once per event.
 */
export const revenueProjection: Projection = {
  name: 'invoice.revenue.v1',
  filter: {
    types: ['invoice.invoice.drafted', 'invoice.invoice.finalized', 'invoice.credit_note.issued', 'invoice.invoice.voided', 'billing.payment.succeeded', 'billing.payment.invoice_linked', 'billing.payment.refunded', 'billing.receivable.credited', 'billing.receivable.canceled'],
  },
  collections: Object.values(revenueCollections),
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as Invoicing | Money;
    const organizationId = stored.organizationId;
    const invoiceDoc = (invoiceId: string, change: (current: RevenueInvoiceView | null) => RevenueInvoiceView | null) =>
      updateOnce<RevenueInvoiceView & AppliedVersions>(tx, revenueCollections.invoices, invoiceId, stored, (current) => change(current) as (RevenueInvoiceView & AppliedVersions) | null);
    // Payments and refunds are dated when the money moved (a transfer's value date), others when they happened.
    const at = 'receivedAt' in event.data ? event.data.receivedAt : stored.occurredAt;
    const movement = (currency: string, memo: string, sides: [JournalLine['account'], number][]) =>
      updateOnce<CashMovementView>(tx, revenueCollections.cash, stored.id, stored, () => ({ id: stored.id, organizationId, currency, at, memo, sides: sides.filter(([, amount]) => amount !== 0) }));
    switch (event.type) {
      case 'invoice.invoice.drafted':
        return invoiceDoc(event.data.invoiceId, (current) => ({ ...current, id: event.data.invoiceId, organizationId, timeZone: event.data.timeZone, finalized: current?.finalized ?? false }));
      case 'invoice.invoice.finalized': {
        const d = event.data;
        // Usage invoices bill a closed year: recognised when billed.
        const atIssue = d.sourceEventType === 'usage.period.closed' || d.sourceEventType === 'usage.adjustment.recorded';
        const lines = d.lines.map((l) => ({ net: d.tax.mode === 'exclusive' ? l.amount : l.amount - lineTax(l.amount, d.tax), periodStart: l.periodStart, periodEnd: l.periodEnd, atIssue }));
        return invoiceDoc(d.invoiceId, (current) => {
          const invoice = { id: d.invoiceId, organizationId, timeZone: current?.timeZone ?? 'UTC', number: d.number, currency: d.currency, issuedAt: d.issuedAt, eventId: stored.id, subtotal: d.subtotal, taxAmount: d.tax.amount, total: d.total, lines, reversals: [] as Reversal[] };
          for (const refund of current?.pendingRefunds ?? []) invoice.reversals.push(reversalOf(invoice, { ...refund, kind: 'refund' }));
          return { ...invoice, finalized: true };
        });
      }
      case 'invoice.credit_note.issued':
      case 'invoice.invoice.voided': {
        const gross = event.type === 'invoice.credit_note.issued' ? event.data.amount : 'rest';
        return invoiceDoc(event.data.invoiceId, (current) => {
          if (!current?.finalized) throw new Error(`invoice ${event.data.invoiceId} is reversed before revenue saw it issued`);
          const invoice = current as RevenueInvoice & RevenueInvoiceView;
          return { ...current, reversals: [...invoice.reversals, reversalOf(invoice, { eventId: stored.id, kind: event.type === 'invoice.invoice.voided' ? 'void' : 'credit_note', at: stored.occurredAt, gross })] };
        });
      }
      case 'billing.payment.succeeded': {
        const d = event.data;
        // Settled from credit: no money moved, credit did. Money: cash in, what it paid and what it left over.
        const from = d.method === 'credit_balance' ? 'customer_credit' : 'cash';
        return movement(d.currency, `payment ${d.paymentId}${d.invoiceId ? ` on invoice ${d.invoiceId}` : ''}`, [[from, d.amount], ['receivables', -d.appliedAmount], ['customer_credit', -d.excessAmount]]);
      }
      case 'billing.payment.invoice_linked': {
        // A card payment recorded before its invoice was known was credit until now.
        const d = event.data;
        return movement(d.currency, `payment ${d.paymentId} linked to invoice ${d.invoiceId}`, [['customer_credit', d.appliedAmount], ['receivables', -d.appliedAmount]]);
      }
      case 'billing.payment.refunded': {
        // Money out. What reopens the invoice is owed again; what leaves it paid (a card refund: Stripe keeps its
        // invoice paid) reverses the invoice from the refund's date, as a credit note would (journal: cash, not
        // receivables); a payment of no invoice came out of credit.
        const d = event.data;
        const kept = d.refundedAmount - d.reopenedAmount;
        await movement(d.currency, `refund ${d.refundId} of payment ${d.paymentId}`, [['receivables', d.reopenedAmount], ...(d.invoiceId ? [] : [['customer_credit', kept] as [JournalLine['account'], number]]), ['cash', -(d.invoiceId ? d.reopenedAmount : d.refundedAmount)]]);
        if (!d.invoiceId || kept === 0) return;
        const refund = { eventId: stored.id, at: d.receivedAt, gross: kept };
        return invoiceDoc(d.invoiceId, (current) => {
          if (!current?.finalized) return { id: d.invoiceId!, organizationId, timeZone: current?.timeZone ?? 'UTC', ...current, finalized: false, pendingRefunds: [...(current?.pendingRefunds ?? []), refund] };
          const invoice = current as RevenueInvoice & RevenueInvoiceView;
          return { ...current, reversals: [...invoice.reversals, reversalOf(invoice, { ...refund, kind: 'refund' })] };
        });
      }
      case 'billing.receivable.credited':
        // The credit note took the invoice below what was paid on it: that much is the customer's credit.
        return movement(event.data.currency, `credit note ${event.data.creditNoteId}: paid beyond the invoice`, [['receivables', event.data.excessPaid], ['customer_credit', -event.data.excessPaid]]);
      case 'billing.receivable.canceled':
        // Voided: what was paid on it returns as credit.
        return movement(event.data.currency, `invoice ${event.data.invoiceId} voided: paid on it`, [['receivables', event.data.amountPaid], ['customer_credit', -event.data.amountPaid]]);
      default:
        return;
    }
  },
};
