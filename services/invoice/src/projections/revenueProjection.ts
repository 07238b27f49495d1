import type { BillingEvent, InvoiceEvent } from '@curbmap/contracts';
import { updateOnce, type AppliedVersions, type Document, type Projection } from '@curbmap/eventsourcing';
import { lineTax } from '../domain/tax/invoiceTax.ts';
import { allocate, reversalOf, type Reversal, type RevenueInvoice } from '../domain/revenue/revenueSchedule.ts';
import { invoiceCollections, type InvoiceOrganizationView } from './invoiceProjections.ts';
import type { JournalLine } from '../domain/revenue/revenueReport.ts';

export const revenueCollections = { invoices: 'revenue_invoices', cash: 'revenue_cash', payments: 'revenue_payments' } as const;

/** Which invoice a payment paid (id: the payment's): a card refund names none, its payment's stream does. */
interface PaymentInvoiceView extends Document {
  invoiceId: string | null;
}

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
  // v2: payments kept (revenue_payments), card payments before their invoice as customer credit, nets allocated
  // over lines: rebuilt from the log, so no movement keeps v1's entries.
  name: 'invoice.revenue.v2',
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
        // The lines' nets add up to the subtotal exactly: tax (inclusive, per line) and a Stripe invoice's discounts
        // are spread over them in proportion.
        const own = d.lines.map((l) => (d.tax.mode === 'exclusive' ? l.amount : l.amount - lineTax(l.amount, d.tax)));
        const nets = own.reduce((sum, n) => sum + n, 0) === d.subtotal ? own : allocate(d.subtotal, own);
        const lines = d.lines.map((l, i) => ({ net: nets[i]!, periodStart: l.periodStart, periodEnd: l.periodEnd, atIssue }));
        // A mirror of Stripe's invoice has no draft here: the organization's zone now.
        const zone = (await tx.get<InvoiceOrganizationView>(invoiceCollections.organizations, organizationId))?.timeZone ?? 'UTC';
        const stripe = d.sourceEventType === 'billing.stripe_event.received';
        return invoiceDoc(d.invoiceId, (current) => {
          const invoice = { id: d.invoiceId, organizationId, timeZone: current?.timeZone ?? zone, stripe, number: d.number, currency: d.currency, issuedAt: d.issuedAt, eventId: stored.id, subtotal: d.subtotal, taxAmount: d.tax.amount, total: d.total, lines, reversals: [] as Reversal[] };
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
        await updateOnce<PaymentInvoiceView>(tx, revenueCollections.payments, d.paymentId, stored, (current) => ({ id: d.paymentId, organizationId, invoiceId: d.invoiceId ?? current?.invoiceId ?? null }));
        // Settled from credit: no money moved, credit did. Money: cash in, what it paid and what it left over; a
        // card payment whose invoice is not known yet is held for the customer until it is (invoice_linked).
        const from = d.method === 'credit_balance' ? 'customer_credit' : 'cash';
        if (!d.invoiceId) return movement(d.currency, `payment ${d.paymentId}, its invoice not known yet`, [[from, d.amount], ['customer_credit', -d.amount]]);
        return movement(d.currency, `payment ${d.paymentId} on invoice ${d.invoiceId}`, [[from, d.amount], ['receivables', -d.appliedAmount], ['customer_credit', -d.excessAmount]]);
      }
      case 'billing.payment.invoice_linked': {
        // A card payment recorded before its invoice was known was held for the customer until now.
        const d = event.data;
        await updateOnce<PaymentInvoiceView>(tx, revenueCollections.payments, d.paymentId, stored, () => ({ id: d.paymentId, organizationId, invoiceId: d.invoiceId }));
        return movement(d.currency, `payment ${d.paymentId} linked to invoice ${d.invoiceId}`, [['customer_credit', d.appliedAmount], ['receivables', -d.appliedAmount]]);
      }
      case 'billing.payment.refunded': {
        // Money out. What reopens the invoice is owed again; what leaves it paid (a card refund: Stripe keeps its
        // invoice paid) reverses the invoice from the refund's date, as a credit note would (journal: cash, not
        // receivables); a payment of no invoice came out of credit.
        const d = event.data;
        const kept = d.refundedAmount - d.reopenedAmount;
        // A card refund names no invoice: its payment's stream said which (same stream, so known by now).
        const invoiceId = d.invoiceId ?? (await tx.get<PaymentInvoiceView>(revenueCollections.payments, d.paymentId))?.invoiceId ?? null;
        await movement(d.currency, `refund ${d.refundId} of payment ${d.paymentId}`, [['receivables', d.reopenedAmount], ...(invoiceId ? [] : [['customer_credit', kept] as [JournalLine['account'], number]]), ['cash', -(invoiceId ? d.reopenedAmount : d.refundedAmount)]]);
        if (!invoiceId || kept === 0) return;
        const refund = { eventId: stored.id, at: d.receivedAt, gross: kept };
        return invoiceDoc(invoiceId, (current) => {
          if (!current?.finalized) return { id: invoiceId, organizationId, timeZone: current?.timeZone ?? 'UTC', ...current, finalized: false, pendingRefunds: [...(current?.pendingRefunds ?? []), refund] };
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
