import type { BillingEvent, InvoiceFinalized } from '@curbmap/contracts';
import type { Document, Projection } from '@curbmap/eventsourcing';

export const invoiceCollections = { terms: 'invoice_billing_terms', invoices: 'invoices' } as const;
const C = invoiceCollections;

/** How a subscription is invoiced, learned from its activation (for charges written before they carried terms). */
export interface BillingTermsView extends Document {
  subscriptionId: string;
  collectionMethod: 'charge_automatically' | 'send_invoice';
  daysUntilDue: number | null;
  poNumber: string | null;
  provider: string;
}

export interface InvoiceView extends Document {
  number: string;
  subscriptionId: string | null;
  status: 'open' | 'partially_paid' | 'paid';
  currency: string;
  lines: InvoiceFinalized['data']['lines'];
  total: number;
  amountDue: number;
  amountPaid: number;
  amountRemaining: number;
  collectionMethod: string;
  poNumber: string | null;
  issuedAt: string;
  dueAt: string | null;
  paidAt: string | null;
}

export const billingTermsProjection: Projection = {
  name: 'invoice.billing_terms.v2',
  filter: { types: ['billing.subscription.activated'] },
  collections: [C.terms],
  async apply(stored, tx) {
    const d = (stored as unknown as Extract<BillingEvent, { type: 'billing.subscription.activated' }>).data;
    await tx.put(C.terms, { id: d.subscriptionId, organizationId: stored.organizationId, subscriptionId: d.subscriptionId, collectionMethod: d.collectionMethod, daysUntilDue: d.daysUntilDue, poNumber: d.poNumber, provider: d.provider } satisfies BillingTermsView);
  },
};

export const invoicesProjection: Projection = {
  name: 'invoice.invoices.v2',
  filter: { types: ['invoice.invoice.finalized', 'billing.payment.succeeded', 'billing.payment.refunded'] },
  collections: [C.invoices],
  indexes: { [C.invoices]: ['status'] },
  async apply(stored, tx) {
    if (stored.type === 'invoice.invoice.finalized') {
      const d = (stored as unknown as InvoiceFinalized).data;
      await tx.put(C.invoices, {
        id: d.invoiceId, organizationId: stored.organizationId, number: d.number, subscriptionId: d.subscriptionId, status: d.amountDue === 0 ? 'paid' : 'open', currency: d.currency, lines: d.lines,
        total: d.total, amountDue: d.amountDue, amountPaid: 0, amountRemaining: d.amountDue, collectionMethod: d.collectionMethod, poNumber: d.poNumber, issuedAt: d.issuedAt, dueAt: d.dueAt, paidAt: d.amountDue === 0 ? d.issuedAt : null,
      } satisfies InvoiceView);
      return;
    }
    const event = { type: stored.type, data: stored.data } as Extract<BillingEvent, { type: 'billing.payment.succeeded' | 'billing.payment.refunded' }>;
    const invoice = event.data.invoiceId ? await tx.get<InvoiceView>(C.invoices, event.data.invoiceId) : null;
    if (!invoice) return;
    // A manual refund reopens the invoice by what it returned (billing-integration.md, "Refunds").
    const change = event.type === 'billing.payment.succeeded' ? event.data.appliedAmount : -event.data.reopenedAmount;
    if (change === 0) return;
    const amountPaid = invoice.amountPaid + change;
    const paid = amountPaid >= invoice.amountDue;
    const status = paid ? 'paid' : amountPaid > 0 ? 'partially_paid' : 'open';
    await tx.put(C.invoices, { ...invoice, amountPaid, amountRemaining: invoice.amountDue - amountPaid, status, paidAt: paid ? (invoice.paidAt ?? event.data.receivedAt) : null });
  },
};
