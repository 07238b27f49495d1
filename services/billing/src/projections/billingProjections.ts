import type { BillingEvent, BillingTerms, OrganizationCreated } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection, type StoredEvent } from '@curbmap/eventsourcing';
import { subscriptionDecider, type Subscription, type SubscriptionEvent } from '../domain/subscription/subscriptionDecider.ts';

export const billingCollections = {
  customers: 'billing_customers',
  subscriptions: 'billing_subscriptions',
  receivables: 'billing_receivables',
  payments: 'billing_payments',
  stripeEvents: 'billing_stripe_events',
  stripeCustomers: 'billing_stripe_customers',
  stripeInvoices: 'billing_stripe_invoices',
  credit: 'billing_credit',
  terms: 'billing_terms',
  remittanceAdvice: 'billing_remittance_advice',
} as const;

/** Payment terms the operator set (absent: the defaults of defaultBillingTerms). */
export interface BillingTermsView extends Document, BillingTerms {
  updatedAt: string;
}

/** What a customer said it sent; the operator matches it with the transfer that arrives. */
export interface RemittanceAdviceView extends Document {
  invoiceId: string;
  amount: number;
  currency: string;
  reference: string;
  sentAt: string;
  recordedAt: string;
}

/** An organization's credit balance by currency, from over-payments. */
export interface CreditView extends Document {
  balances: Record<string, number>;
}

/** A Stripe customer and the organization it bills. */
export interface StripeCustomerView extends Document {
  email: string | null;
  deleted: boolean;
  /** `created` of the last event applied: older deliveries are ignored. */
  eventCreated: number;
}
const C = billingCollections;

/** What billing knows of an organization, from the tenancy events. */
export interface CustomerView extends Document {
  name: string;
  billingEmail: string;
  currency: string;
  timeZone: string;
}

export interface SubscriptionView extends Document {
  /** The decider's state, folded by the same evolve: terms, period, pending change, provider. */
  state: Subscription;
  /** Mirrors of state for range and equality queries (scheduler); `none`: a start the provider refused. */
  status: Subscription['status'] | 'none';
  periodEnd: string;
  createdAt: string;
  updatedAt: string;
  /** Version of the last event applied: lets a reader tell how fresh it is. */
  version: number;
}

export interface ReceivableView extends Document {
  subscriptionId: string | null;
  amountDue: number;
  amountPaid: number;
  amountRemaining: number;
  excessReceived: number;
  currency: string;
  dueAt: string | null;
  collectionMethod: string;
  /** void: nothing owed; uncollectible: written off, no dunning (a payment still settles it). */
  status: 'open' | 'partially_paid' | 'paid' | 'void' | 'uncollectible';
  openedAt: string;
  /** How many times a refund reopened it: each reopening is a new round of dunning. */
  reopened?: number;
  /** When a refund last reopened it: a new round's grace before `unpaid` counts from then. */
  reopenedAt?: string;
}

export interface PaymentView extends Document {
  invoiceId: string | null;
  amount: number;
  appliedAmount: number;
  excessAmount: number;
  currency: string;
  method: string;
  reference: string | null;
  receivedAt: string;
  status: 'succeeded' | 'failed' | 'requires_action' | 'refunded';
  refundedAmount: number;
  provider: string;
}

export const customersProjection: Projection = {
  name: 'billing.customers.v1',
  filter: { types: ['tenancy.organization.created'] },
  collections: [C.customers],
  async apply(stored, tx) {
    const { organizationId, name, billingEmail, currency, timeZone } = (stored as StoredEvent & OrganizationCreated).data;
    await updateOnce<CustomerView>(tx, C.customers, organizationId, stored, () => ({ id: organizationId, organizationId, name, billingEmail, currency, timeZone }));
  },
};

export const subscriptionsProjection: Projection = {
  name: 'billing.subscriptions.v3',
  filter: { categories: ['subscription'] },
  collections: [C.subscriptions],
  indexes: { [C.subscriptions]: ['status', 'periodEnd'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as SubscriptionEvent;
    const existing = await tx.get<SubscriptionView>(C.subscriptions, stored.organizationId);
    // One stream feeds the document: its version says what was applied (a redelivery changes nothing).
    if (existing && stored.streamVersion <= existing.version) return;
    const folded = existing && existing.status !== 'none' ? existing.state : subscriptionDecider.initialState();
    const state = subscriptionDecider.evolve(folded, event);
    if (state.status === 'none') {
      // A start the provider refused: there is no subscription. The document stays, marked, to keep its version.
      if (existing) await tx.put(C.subscriptions, { ...existing, status: 'none', updatedAt: stored.occurredAt, version: stored.streamVersion });
      return;
    }
    // A new subscription starts when asked of the provider, at `created` (incomplete) or at `activated`, unless
    // that event follows a request or ends an incomplete one.
    const starts = (event.type === 'billing.subscription.provider_requested' && event.data.action === 'start') ||
      ((event.type === 'billing.subscription.created' || event.type === 'billing.subscription.activated') && folded.status !== 'incomplete' && folded.status !== 'pending');
    const view: SubscriptionView = {
      id: stored.organizationId,
      organizationId: stored.organizationId,
      state,
      status: state.status,
      periodEnd: state.period.end,
      createdAt: starts || !existing || existing.status === 'none' ? stored.occurredAt : existing.createdAt,
      updatedAt: stored.occurredAt,
      version: stored.streamVersion,
    };
    await tx.put(C.subscriptions, view);
  },
};

export const creditProjection: Projection = {
  name: 'billing.credit.v1',
  filter: { categories: ['credit'] },
  collections: [C.credit],
  async apply(stored, tx) {
    const event = stored as unknown as Extract<BillingEvent, { type: 'billing.credit.granted' | 'billing.credit.applied' }>;
    const sign = event.type === 'billing.credit.granted' ? 1 : -1;
    await updateOnce<CreditView>(tx, C.credit, stored.organizationId, stored, (view) => {
      const balances = { ...view?.balances };
      balances[event.data.currency] = (balances[event.data.currency] ?? 0) + sign * event.data.amount;
      return { id: stored.organizationId, organizationId: stored.organizationId, balances };
    });
  },
};

export const billingTermsProjection: Projection = {
  name: 'billing.terms.v1',
  filter: { categories: ['billingterms'] },
  collections: [C.terms],
  async apply(stored, tx) {
    const d = stored.data as BillingTerms;
    await updateOnce<BillingTermsView>(tx, C.terms, stored.organizationId, stored, () => ({ id: stored.organizationId, organizationId: stored.organizationId, collectionMethods: d.collectionMethods, daysUntilDue: d.daysUntilDue, updatedAt: stored.occurredAt }));
  },
};

export const receivablesProjection: Projection = {
  name: 'billing.receivables.v4',
  filter: { categories: ['receivable', 'payment'] },
  collections: [C.receivables, C.payments, C.remittanceAdvice],
  indexes: { [C.receivables]: ['status', 'dueAt'], [C.payments]: ['invoiceId'], [C.remittanceAdvice]: ['recordedAt'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as BillingEvent;
    const organizationId = stored.organizationId;
    // Every document remembers what it applied (updateOnce): a redelivered payment never counts twice.
    const payment = (id: string, change: (p: PaymentView | null) => PaymentView | null) => updateOnce<PaymentView>(tx, C.payments, id, stored, change);
    const receivable = (id: string | null, change: (r: ReceivableView) => ReceivableView) => (id ? updateOnce<ReceivableView>(tx, C.receivables, id, stored, (r) => (r ? change(r) : null)) : undefined);
    const withPaid = (r: ReceivableView, amountPaid: number): ReceivableView => {
      if (r.status === 'void') return { ...r, amountPaid };
      const paid = amountPaid >= r.amountDue;
      return { ...r, amountPaid, amountRemaining: r.amountDue - amountPaid, status: paid ? 'paid' : r.status === 'uncollectible' ? 'uncollectible' : amountPaid > 0 ? 'partially_paid' : 'open' };
    };
    switch (event.type) {
      case 'billing.receivable.opened': {
        const d = event.data;
        await updateOnce<ReceivableView>(tx, C.receivables, d.invoiceId, stored, () => ({
          id: d.invoiceId, organizationId, subscriptionId: d.subscriptionId, amountDue: d.amountDue, amountPaid: 0, amountRemaining: d.amountDue, excessReceived: 0,
          currency: d.currency, dueAt: d.dueAt, collectionMethod: d.collectionMethod, status: d.amountDue === 0 ? 'paid' : 'open', openedAt: stored.occurredAt,
        }));
        return;
      }
      case 'billing.payment.succeeded': {
        const d = event.data;
        await payment(d.paymentId, (p) => ({ id: d.paymentId, organizationId, invoiceId: d.invoiceId, amount: d.amount, appliedAmount: d.appliedAmount, excessAmount: d.excessAmount, currency: d.currency, method: d.method, reference: d.reference, receivedAt: d.receivedAt, status: 'succeeded', refundedAmount: p?.refundedAmount ?? 0, provider: d.provider }));
        await receivable(d.invoiceId, (r) => ({ ...withPaid(r, r.amountPaid + d.appliedAmount), excessReceived: r.excessReceived + d.excessAmount }));
        return;
      }
      case 'billing.payment.invoice_linked': {
        const d = event.data;
        await payment(d.paymentId, (p) => (p ? { ...p, invoiceId: d.invoiceId } : null));
        return;
      }
      case 'billing.payment.failed':
      case 'billing.payment.requires_action': {
        const d = event.data;
        const status = event.type === 'billing.payment.failed' ? 'failed' : 'requires_action';
        await payment(d.paymentId, () => ({ id: d.paymentId, organizationId, invoiceId: d.invoiceId, amount: d.amount, appliedAmount: 0, excessAmount: 0, currency: d.currency, method: d.method, reference: d.reference, receivedAt: d.receivedAt, status, refundedAmount: 0, provider: d.provider }));
        return;
      }
      case 'billing.payment.refunded': {
        const d = event.data;
        await payment(d.paymentId, (p) => (p ? { ...p, status: 'refunded', refundedAmount: p.refundedAmount + d.refundedAmount } : null));
        if (d.reopenedAmount > 0) await receivable(d.invoiceId, (r) => ({ ...withPaid(r, r.amountPaid - d.reopenedAmount), reopened: (r.reopened ?? 0) + 1, reopenedAt: stored.occurredAt }));
        return;
      }
      case 'billing.receivable.canceled':
        await receivable(event.data.invoiceId, (r) => ({ ...r, status: 'void', amountRemaining: 0 }));
        return;
      case 'billing.receivable.written_off':
        await receivable(event.data.invoiceId, (r) => ({ ...r, status: 'uncollectible' }));
        return;
      case 'billing.receivable.credited': {
        const d = event.data;
        await receivable(d.invoiceId, (r) => withPaid({ ...r, amountDue: d.amountDue }, r.amountPaid - d.excessPaid));
        return;
      }
      case 'billing.remittance_advice.received': {
        const d = event.data;
        await updateOnce<RemittanceAdviceView>(tx, C.remittanceAdvice, d.adviceId, stored, () => ({ id: d.adviceId, organizationId, invoiceId: d.invoiceId, amount: d.amount, currency: d.currency, reference: d.reference, sentAt: d.sentAt, recordedAt: stored.occurredAt }));
        return;
      }
      default:
        return;
    }
  },
};
