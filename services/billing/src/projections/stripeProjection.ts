import type { BillingEvent, StripeEventReceived } from '@curbmap/contracts';
import type { Document, Projection } from '@curbmap/eventsourcing';
import { num, str, type StripeEventLike } from '../adapters/stripe/stripeObjects.ts';
import { billingCollections as C, type StripeCustomerView } from './billingProjections.ts';

export interface StripeEventView extends Document {
  type: string;
  created: number;
  source: string;
  livemode: boolean;
}

export interface StripeInvoiceView extends Document {
  status: string;
  customerId: string | null;
  amountDue: number;
  amountPaid: number;
  currency: string;
  number: string | null;
  hostedInvoiceUrl: string | null;
  eventCreated: number;
}

// Invoice statuses only move forward; within one second, a lower rank is the older event.
const invoiceRank: Record<string, number> = { draft: 0, open: 1, paid: 2, void: 2, uncollectible: 2 };
const stale = (prev: { eventCreated: number; rank?: number } | null, created: number, rank = 0) => prev !== null && (created < prev.eventCreated || (created === prev.eventCreated && rank < (prev.rank ?? 0)));

/** What we know of Stripe: the events stored, customers and invoices, newest state only. */
export const stripeProjection: Projection = {
  name: 'billing.stripe.v1',
  filter: { types: ['billing.stripe_event.received', 'billing.customer.linked'] },
  collections: [C.stripeEvents, C.stripeCustomers, C.stripeInvoices],
  // Stored events by time (what reconciliation and operators look up); customers by organization (links).
  indexes: { [C.stripeEvents]: ['created'], [C.stripeCustomers]: ['deleted'] },
  async apply(stored, tx) {
    if (stored.type === 'billing.customer.linked') {
      const { customerId } = (stored as unknown as Extract<BillingEvent, { type: 'billing.customer.linked' }>).data;
      const existing = await tx.get<StripeCustomerView>(C.stripeCustomers, customerId);
      await tx.put(C.stripeCustomers, { id: customerId, organizationId: stored.organizationId, email: existing?.email ?? null, deleted: false, eventCreated: existing?.eventCreated ?? 0 } satisfies StripeCustomerView);
      return;
    }
    const d = stored.data as StripeEventReceived;
    await tx.put(C.stripeEvents, { id: d.stripeEventId, organizationId: stored.organizationId, type: d.stripeType, created: d.created, source: d.source, livemode: d.livemode } satisfies StripeEventView);
    const object = (d.payload as unknown as StripeEventLike).data.object;
    if (d.stripeType.startsWith('customer.') && object.object === 'customer') {
      const id = str(object.id)!;
      const prev = await tx.get<StripeCustomerView>(C.stripeCustomers, id);
      if (stale(prev, d.created)) return;
      const organizationId = prev?.organizationId ?? stored.organizationId;
      await tx.put(C.stripeCustomers, { id, organizationId, email: (object['email'] as string | null) ?? null, deleted: d.stripeType === 'customer.deleted', eventCreated: d.created } satisfies StripeCustomerView);
      return;
    }
    if (d.stripeType.startsWith('invoice.') && object.object === 'invoice') {
      const id = str(object.id)!;
      const status = String(object['status'] ?? 'draft');
      const prev = await tx.get<StripeInvoiceView & { rank: number }>(C.stripeInvoices, id);
      if (stale(prev, d.created, invoiceRank[status] ?? 0)) return;
      await tx.put(C.stripeInvoices, {
        id, organizationId: stored.organizationId, status, customerId: str(object.customer), amountDue: num(object['amount_due']), amountPaid: num(object['amount_paid']),
        currency: String(object['currency'] ?? '').toUpperCase(), number: (object['number'] as string | null) ?? null, hostedInvoiceUrl: (object['hosted_invoice_url'] as string | null) ?? null,
        eventCreated: d.created, rank: invoiceRank[status] ?? 0,
      });
    }
  },
};
