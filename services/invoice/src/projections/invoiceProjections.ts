import type { BillingDetailsSet, BillingEvent, InvoiceFinalized, OrganizationCreated, TaxSettings } from '@curbmap/contracts';
import { alreadyApplied, markApplied, updateOnce, type AppliedVersions, type Document, type Projection } from '@curbmap/eventsourcing';

export const invoiceCollections = { uncredited: 'invoice_uncredited_adjustments', terms: 'invoice_billing_terms', invoices: 'invoices', earlyPayments: 'invoice_early_payments', organizations: 'invoice_organizations', billingDetails: 'invoice_billing_details', taxSettings: 'invoice_tax_settings', templates: 'invoice_templates', dunningSchedules: 'invoice_dunning_schedules' } as const;
const C = invoiceCollections;

/** How a subscription is invoiced, learned from its activation (for charges written before they carried terms). */
export interface BillingTermsView extends Document {
  subscriptionId: string;
  currency: string;
  activatedAt: string;
  collectionMethod: 'charge_automatically' | 'send_invoice';
  daysUntilDue: number | null;
  poNumber: string | null;
  provider: string;
}

export interface InvoiceView extends Document {
  number: string;
  subscriptionId: string | null;
  status: 'open' | 'partially_paid' | 'paid' | 'void' | 'uncollectible';
  /** Why the operator voided it or marked it uncollectible. */
  statusReason?: string | null;
  /** Credit notes against it (`<number>-CN01`…) and their sum. */
  creditNotes?: { id: string; number: string; amount: number; reason: string; issuedAt: string }[];
  amountCredited?: number;
  /**
   * What billing freed of this invoice's payments for a credit note this view has not yet seen issued, by credit
   * note id: subtracted from amountPaid when it is (the two come on different topics on Kafka, in either order).
   */
  pendingExcess?: Record<string, number>;
  currency: string;
  lines: InvoiceFinalized['data']['lines'];
  subtotal: number;
  tax: InvoiceFinalized['data']['tax'];
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

/** What invoicing needs of an organization: its time zone (the year an invoice is numbered in). */
export interface InvoiceOrganizationView extends Document {
  timeZone: string;
  /** The organization's name: what its invoices show until it sets its billing details. */
  name: string;
  /** Where invoices and notifications are e-mailed. */
  billingEmail: string;
}

export const invoiceOrganizationsProjection: Projection = {
  name: 'invoice.organizations.v3',
  filter: { types: ['tenancy.organization.created'] },
  collections: [C.organizations],
  async apply(stored, tx) {
    const { organizationId, timeZone, name, billingEmail } = (stored as unknown as OrganizationCreated).data;
    // Written whole (its one event): a rebuild under a new name rewrites documents an older version left.
    await tx.put(C.organizations, { id: organizationId, organizationId, timeZone, name, billingEmail } satisfies InvoiceOrganizationView);
  },
};

export interface BillingDetailsView extends Document, Omit<BillingDetailsSet['data'], never> {
  updatedAt: string;
}

/**
 * An organization's latest settings of one kind (billing details, template, tax): one document per organization,
 * the event's data as it was set.
 */
function latestPerOrganization(name: string, type: string, collection: string): Projection {
  return {
    name,
    filter: { types: [type] },
    collections: [collection],
    async apply(stored, tx) {
      await updateOnce<Document>(tx, collection, stored.organizationId, stored, () => ({ ...(stored.data as object), id: stored.organizationId, organizationId: stored.organizationId, updatedAt: stored.occurredAt }));
    },
  };
}

export const billingDetailsProjection = latestPerOrganization('invoice.billing_details.v1', 'invoice.billing_details.set', C.billingDetails);

export interface InvoiceTemplateView extends Document {
  source: string | null;
  branding: { logoUrl: string | null; logo?: string | null; primaryColor: string; footer: string | null };
  updatedAt: string;
}

export const invoiceTemplateProjection = latestPerOrganization('invoice.templates.v1', 'invoice.template.set', C.templates);

export interface TaxSettingsView extends Document, TaxSettings {
  updatedAt: string;
}

export const taxSettingsProjection = latestPerOrganization('invoice.tax_settings.v1', 'invoice.tax_settings.set', C.taxSettings);

/** The operator's payment reminder schedule for an organization (none: the default). */
export interface DunningScheduleView extends Document {
  daysFromDue: number[];
  updatedAt: string;
}

export const dunningScheduleProjection = latestPerOrganization('invoice.dunning_schedules.v1', 'invoice.dunning_schedule.set', C.dunningSchedules);

export const billingTermsProjection: Projection = {
  name: 'invoice.billing_terms.v3',
  filter: { types: ['billing.subscription.activated'] },
  collections: [C.terms],
  indexes: { [C.terms]: ['activatedAt'] },
  async apply(stored, tx) {
    const d = (stored as unknown as Extract<BillingEvent, { type: 'billing.subscription.activated' }>).data;
    await updateOnce<BillingTermsView>(tx, C.terms, d.subscriptionId, stored, () => ({ id: d.subscriptionId, organizationId: stored.organizationId, subscriptionId: d.subscriptionId, currency: d.currency, collectionMethod: d.collectionMethod, daysUntilDue: d.daysUntilDue, poNumber: d.poNumber, provider: d.provider, activatedAt: stored.occurredAt }));
  },
};

/** Payments recorded against an invoice not yet projected (a Stripe invoice's, before its mirror). */
interface EarlyPaymentsView extends Document {
  amountPaid: number;
  paidAt: string;
  pendingExcess?: Record<string, number>;
  /** Marked uncollectible once: it stays so while anything is owed on it (a refund after it was settled, say). */
  writtenOff?: boolean;
}

/** Remaining, status and paid date from what is due, paid and credited. A void invoice stays void; a written-off one stays so until settled. */
function settled(invoice: InvoiceView, at: string): InvoiceView {
  if (invoice.status === 'void') return invoice;
  const remaining = Math.max(0, invoice.amountDue - (invoice.amountCredited ?? 0) - invoice.amountPaid);
  const paid = remaining === 0;
  const status = paid ? 'paid' : invoice.status === 'uncollectible' || invoice.writtenOff ? 'uncollectible' : invoice.amountPaid > 0 ? 'partially_paid' : 'open';
  return { ...invoice, amountRemaining: remaining, status, paidAt: paid ? (invoice.paidAt ?? at) : null };
}

export const invoicesProjection: Projection = {
  name: 'invoice.invoices.v6',
  filter: { types: ['invoice.invoice.finalized', 'invoice.invoice.voided', 'invoice.invoice.marked_uncollectible', 'invoice.credit_note.issued', 'billing.payment.succeeded', 'billing.payment.invoice_linked', 'billing.payment.refunded', 'billing.receivable.credited'] },
  collections: [C.invoices, C.earlyPayments],
  indexes: { [C.invoices]: ['status', 'issuedAt'] },
  async apply(stored, tx) {
    if (stored.type === 'invoice.invoice.finalized') {
      const d = (stored as unknown as InvoiceFinalized).data;
      // Payments of it projected before it (a Stripe invoice's payment can be recorded before its mirror) count now.
      const early = await tx.get<EarlyPaymentsView & AppliedVersions>(C.earlyPayments, d.invoiceId);
      const current = await tx.get<InvoiceView & AppliedVersions>(C.invoices, d.invoiceId);
      if (alreadyApplied(current, stored)) return;
      const invoice = settled(
        {
          id: d.invoiceId, organizationId: stored.organizationId, number: d.number, subscriptionId: d.subscriptionId, status: 'open', currency: d.currency, lines: d.lines,
          subtotal: d.subtotal, tax: d.tax, total: d.total, amountDue: d.amountDue, amountPaid: early?.amountPaid ?? 0, amountRemaining: d.amountDue, collectionMethod: d.collectionMethod, poNumber: d.poNumber, issuedAt: d.issuedAt, dueAt: d.dueAt, paidAt: null,
          ...(early?.pendingExcess ? { pendingExcess: early.pendingExcess } : {}),
        },
        early?.paidAt ?? d.issuedAt,
      );
      // The payments' applied versions come along: a redelivered one is not counted again.
      await tx.put(C.invoices, markApplied(invoice, early ?? current, stored));
      if (early) await tx.delete(C.earlyPayments, d.invoiceId);
      return;
    }
    if (stored.type === 'invoice.credit_note.issued') {
      const d = stored.data as { creditNoteId: string; invoiceId: string; number: string; amount: number; reason: string };
      await updateOnce<InvoiceView>(tx, C.invoices, d.invoiceId, stored, (invoice) => {
        if (!invoice) return null;
        const creditNotes = [...(invoice.creditNotes ?? []), { id: d.creditNoteId, number: d.number, amount: d.amount, reason: d.reason, issuedAt: stored.occurredAt }];
        // What billing already freed of the payments for it leaves amountPaid together with the credit: never one without the other.
        const { [d.creditNoteId]: freed = 0, ...pendingExcess } = invoice.pendingExcess ?? {};
        return settled({ ...invoice, creditNotes, amountCredited: (invoice.amountCredited ?? 0) + d.amount, amountPaid: invoice.amountPaid - freed, pendingExcess }, stored.occurredAt);
      });
      return;
    }
    if (stored.type === 'invoice.invoice.voided' || stored.type === 'invoice.invoice.marked_uncollectible') {
      const d = stored.data as { invoiceId: string; reason: string };
      const voided = stored.type === 'invoice.invoice.voided';
      await updateOnce<InvoiceView>(tx, C.invoices, d.invoiceId, stored, (invoice) => (invoice ? { ...invoice, status: voided ? 'void' : 'uncollectible', statusReason: d.reason, ...(voided ? { amountRemaining: 0 } : { writtenOff: true }) } : null));
      return;
    }
    const event = { type: stored.type, data: stored.data } as Extract<BillingEvent, { type: 'billing.payment.succeeded' | 'billing.payment.invoice_linked' | 'billing.payment.refunded' | 'billing.receivable.credited' }>;
    // A manual refund reopens the invoice by what it returned (billing-integration.md, "Refunds"); what a credit
    // note freed of a payment moved to the credit balance and is no longer paid on this invoice (paid + credited ≤ total).
    // A card payment linked to its invoice after it was recorded counts on that invoice as it would have then.
    const change = event.type === 'billing.payment.succeeded' || event.type === 'billing.payment.invoice_linked' ? event.data.appliedAmount : event.type === 'billing.payment.refunded' ? -event.data.reopenedAmount : -event.data.excessPaid;
    if (change === 0 || !event.data.invoiceId) return;
    const invoiceId = event.data.invoiceId;
    const at = event.type === 'billing.receivable.credited' ? stored.occurredAt : event.data.receivedAt;
    // Freed for a credit note not yet seen issued here: kept aside until it is (see pendingExcess).
    const freedFor = event.type === 'billing.receivable.credited' ? event.data.creditNoteId : null;
    const apply = <V extends { amountPaid: number; pendingExcess?: Record<string, number>; creditNotes?: { id: string }[] }>(view: V): V =>
      freedFor !== null && !view.creditNotes?.some((n) => n.id === freedFor) ? { ...view, pendingExcess: { ...view.pendingExcess, [freedFor]: -change } } : { ...view, amountPaid: view.amountPaid + change };
    if (!(await tx.get<InvoiceView>(C.invoices, invoiceId))) {
      // Kept until the invoice is: its finalization takes them in.
      await updateOnce<EarlyPaymentsView>(tx, C.earlyPayments, invoiceId, stored, (early) => apply({ ...early, id: invoiceId, organizationId: stored.organizationId, amountPaid: early?.amountPaid ?? 0, paidAt: at }));
      return;
    }
    await updateOnce<InvoiceView>(tx, C.invoices, invoiceId, stored, (invoice) => (invoice ? settled(apply(invoice), at) : null));
  },
};

/** Usage adjustments no invoice could credit, for the operator. */
export interface UncreditedAdjustmentView extends Document {
  sourceEventId: string;
  meter: string;
  periodStart: string;
  periodEnd: string;
  amount: number;
  currency: string;
  reason: string;
  reportedAt: string;
}

export const uncreditedAdjustmentsProjection: Projection = {
  name: 'invoice.uncredited_adjustments.v1',
  filter: { types: ['invoice.adjustment.uncredited'] },
  collections: [C.uncredited],
  indexes: { [C.uncredited]: ['reportedAt'] },
  async apply(stored, tx) {
    const d = stored.data as { sourceEventId: string; meter: string; periodStart: string; periodEnd: string; amount: number; currency: string; reason: string };
    await updateOnce<UncreditedAdjustmentView>(tx, C.uncredited, stored.id, stored, () => ({ id: stored.id, organizationId: stored.organizationId, sourceEventId: d.sourceEventId, meter: d.meter, periodStart: d.periodStart, periodEnd: d.periodEnd, amount: d.amount, currency: d.currency, reason: d.reason, reportedAt: stored.occurredAt }));
  },
};
