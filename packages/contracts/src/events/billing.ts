import type { EventContract } from '../eventRegistry.ts';
import { currency, instant, MAX_AMOUNT, minorUnits, object, timeZone, uuid } from './common.ts';

export const collectionMethods = ['charge_automatically', 'send_invoice'] as const;
export type CollectionMethod = (typeof collectionMethods)[number];
export const paymentProviders = ['manual', 'stripe'] as const;
export const providerActions = ['start', 'change', 'cancel', 'reactivate'] as const;
export type PaymentProviderKind = (typeof paymentProviders)[number];

/** One line of a charge: a signed amount (credits are negative) for a span of the period. */
export interface ChargeLine {
  description: string;
  quantity: number;
  unitAmount: number;
  amount: number;
  periodStart: string;
  periodEnd: string;
}

/** How a charge is collected and invoiced, as it was when the charge was made. */
export interface ChargeTerms {
  collectionMethod: CollectionMethod;
  daysUntilDue: number | null;
  poNumber: string | null;
  provider: PaymentProviderKind;
}

export interface SubscriptionTerms {
  subscriptionId: string;
  planId: string;
  planName: string;
  seats: number;
  currency: string;
  /** Price per seat per year, minor units. */
  unitAmount: number;
  collectionMethod: CollectionMethod;
  daysUntilDue: number | null;
  poNumber: string | null;
  timeZone: string;
  provider: PaymentProviderKind;
  providerSubscriptionId: string | null;
}

export type BillingEvent =
  | { type: 'billing.subscription.activated'; data: SubscriptionTerms & { periodStart: string; periodEnd: string; amount: number; lines: ChargeLine[] } }
  /** Created but not yet paid (Stripe, charge_automatically): `incomplete` until the first payment succeeds. */
  | { type: 'billing.subscription.created'; data: SubscriptionTerms & { periodStart: string; periodEnd: string; amount: number; lines: ChargeLine[] } }
  /** Charges carry the terms they are invoiced on (`null` on events written before they did). */
  | { type: 'billing.subscription.seats_changed'; data: { subscriptionId: string; from: number; to: number; effective: 'now' | 'renewal'; effectiveAt: string; currency: string; amount: number; lines: ChargeLine[]; terms: ChargeTerms | null } }
  | { type: 'billing.subscription.plan_changed'; data: { subscriptionId: string; fromPlanId: string; toPlanId: string; toPlanName: string; unitAmount: number; effective: 'now' | 'renewal'; effectiveAt: string; currency: string; amount: number; lines: ChargeLine[]; terms: ChargeTerms | null } }
  | { type: 'billing.subscription.renewed'; data: { subscriptionId: string; planId: string; planName: string; seats: number; unitAmount: number; currency: string; periodStart: string; periodEnd: string; amount: number; lines: ChargeLine[]; terms: ChargeTerms | null } }
  | { type: 'billing.subscription.cancellation_scheduled'; data: { subscriptionId: string; cancelAt: string } }
  | { type: 'billing.subscription.cancellation_unscheduled'; data: { subscriptionId: string } }
  | { type: 'billing.subscription.canceled'; data: { subscriptionId: string; canceledAt: string; reason: 'requested' | 'period_end' | 'unpaid' | 'provider' } }
  | { type: 'billing.subscription.past_due'; data: { subscriptionId: string; invoiceId: string; dueAt: string } }
  | { type: 'billing.subscription.recovered'; data: { subscriptionId: string; invoiceId: string } }
  | { type: 'billing.subscription.unpaid'; data: { subscriptionId: string; invoiceId: string } }
  | { type: 'billing.receivable.opened'; data: { invoiceId: string; subscriptionId: string | null; amountDue: number; currency: string; dueAt: string | null; collectionMethod: CollectionMethod } }
  | { type: 'billing.payment.succeeded'; data: PaymentData & { appliedAmount: number; excessAmount: number; amountRemaining: number } }
  | { type: 'billing.payment.failed'; data: PaymentData & { failureMessage: string } }
  | { type: 'billing.payment.requires_action'; data: PaymentData & { nextAction: string } }
  /** `reopenedAmount`: how much of the invoice is owed again (manual refunds reopen; Stripe's do not, see billing-integration.md). */
  | { type: 'billing.payment.refunded'; data: PaymentData & { refundId: string; refundedAmount: number; reopenedAmount: number } }
  /** The customer says it sent a transfer: information for the operator, settles nothing. */
  | { type: 'billing.remittance_advice.received'; data: { adviceId: string; invoiceId: string; amount: number; currency: string; reference: string; sentAt: string } }
  /** Payment terms the operator set for the organization (stream billingterms-<orgId>). */
  | { type: 'billing.terms.set'; data: BillingTerms }
  | { type: 'billing.stripe_event.received'; data: StripeEventReceived }
  /** `status`: the provider's own word, as seen; `statusRank` orders two events of the same second. */
  | { type: 'billing.subscription.provider_synced'; data: { subscriptionId: string; stripeEventId: string; created: number; status: string; statusRank: number } }
  /**
   * Outbox: a change the payment provider must carry out first. `effects` are the events to append once it
   * has (what the same command decides with manual collection); the process calling the provider uses this
   * event's id for its Idempotency-Key.
   */
  | { type: 'billing.subscription.provider_requested'; data: ProviderRequest }
  | { type: 'billing.subscription.provider_confirmed'; data: { subscriptionId: string; requestId: string; action: ProviderAction; providerSubscriptionId: string } }
  | { type: 'billing.subscription.provider_failed'; data: { subscriptionId: string; requestId: string; action: ProviderAction; code: string; message: string } }
  /** Outbox for a card refund (stream payment-<pi>): the process asks Stripe with this event's id as key. */
  | { type: 'billing.refund.requested'; data: { paymentId: string; requestId: string; amount: number; currency: string } }
  | { type: 'billing.refund.submitted'; data: { paymentId: string; requestId: string; refundId: string; status: string; amount: number } }
  | { type: 'billing.refund.failed'; data: { paymentId: string; requestId: string; code: string; message: string } }
  | { type: 'billing.customer.linked'; data: { provider: 'stripe'; customerId: string } }
  /** An over-payment becomes the organization's credit, spent on its next invoices (stream credit-<orgId>). */
  | { type: 'billing.credit.granted'; data: { amount: number; currency: string; sourcePaymentId: string } }
  | { type: 'billing.credit.applied'; data: { amount: number; currency: string; invoiceId: string } };

export type ProviderAction = (typeof providerActions)[number];

export interface ProviderRequest {
  subscriptionId: string;
  requestId: string;
  action: ProviderAction;
  /** What to ask the provider: the seats and plan wanted, when the change applies, how to cancel. */
  seats: number;
  planId: string;
  effective: 'now' | 'renewal';
  atPeriodEnd: boolean | null;
  effects: { type: string; data: object }[];
}

export interface BillingTerms {
  /** What the organization may choose from, in order of preference. */
  collectionMethods: CollectionMethod[];
  /** Days an invoice sent for payment by transfer is due after issue. */
  daysUntilDue: number;
}

/** A verified Stripe webhook delivery (or a reconciled event), stored once per Stripe event id. */
export interface StripeEventReceived {
  stripeEventId: string;
  stripeType: string;
  created: number;
  livemode: boolean;
  objectId: string | null;
  payload: Record<string, unknown>;
  source: 'webhook' | 'reconciliation';
}

export interface PaymentData {
  paymentId: string;
  invoiceId: string | null;
  amount: number;
  currency: string;
  /** `credit_balance`: settled from an earlier over-payment. */
  method: 'bank_transfer' | 'card' | 'stripe' | 'credit_balance';
  reference: string | null;
  receivedAt: string;
  provider: PaymentProviderKind;
  providerPaymentId: string | null;
}

export type BillingEventType = BillingEvent['type'];

// Stripe's subscription statuses in the order a subscription lives through them (later ranks higher): what
// orders two Stripe events of the same second. Used where Stripe's words are translated, and for old events.
const stripeRanks: Record<string, number> = { incomplete: 0, trialing: 1, active: 2, past_due: 3, unpaid: 4, paused: 4, canceled: 5, incomplete_expired: 5 };
export const stripeSubscriptionStatusRank = (status: string): number => stripeRanks[status] ?? 0;

const signed = { type: 'integer' } as const;
/** Schema of a ChargeLine, shared by every event that carries lines. */
export const chargeLineSchema = object({ description: { type: 'string' }, quantity: { type: 'integer', minimum: 0 }, unitAmount: minorUnits, amount: signed, periodStart: instant, periodEnd: instant });
const lines = { type: 'array', items: chargeLineSchema } as const;
const nullableString = { type: ['string', 'null'] } as const;
const sub = { subscriptionId: uuid };
const terms = {
  ...sub,
  planId: { type: 'string' },
  planName: { type: 'string' },
  seats: { type: 'integer', minimum: 1 },
  currency,
  unitAmount: minorUnits,
  collectionMethod: { enum: [...collectionMethods] },
  daysUntilDue: { type: ['integer', 'null'], minimum: 0 },
  poNumber: nullableString,
  timeZone,
  provider: { enum: [...paymentProviders] },
  providerSubscriptionId: nullableString,
};
const payment = {
  paymentId: { type: 'string', minLength: 1 },
  invoiceId: { anyOf: [uuid, { type: 'null' }] },
  amount: minorUnits,
  currency,
  method: { enum: ['bank_transfer', 'card', 'stripe', 'credit_balance'] },
  reference: nullableString,
  receivedAt: instant,
  provider: { enum: [...paymentProviders] },
  providerPaymentId: nullableString,
};
const chargeTerms = {
  anyOf: [
    { type: 'null' },
    object({ collectionMethod: { enum: [...collectionMethods] }, daysUntilDue: { type: ['integer', 'null'], minimum: 0 }, poNumber: nullableString, provider: { enum: [...paymentProviders] } }),
  ],
};
const change = { effective: { enum: ['now', 'renewal'] }, effectiveAt: instant, currency, amount: signed, lines, terms: chargeTerms };
/** Version 2 of a charge event carries its terms; version 1 did not (consumers fall back to the subscription's). */
const withTerms = { 1: (data: unknown) => ({ ...(data as object), terms: null }) };

const v1 = (type: BillingEventType, properties: Record<string, unknown>): EventContract => ({ type, schemaVersion: 1, schema: object(properties) });

export const billingContracts: EventContract[] = [
  v1('billing.subscription.activated', { ...terms, periodStart: instant, periodEnd: instant, amount: minorUnits, lines }),
  v1('billing.subscription.created', { ...terms, periodStart: instant, periodEnd: instant, amount: minorUnits, lines }),
  { type: 'billing.subscription.seats_changed', schemaVersion: 2, upcasters: withTerms, schema: object({ ...sub, from: { type: 'integer', minimum: 1 }, to: { type: 'integer', minimum: 1 }, ...change }) },
  { type: 'billing.subscription.plan_changed', schemaVersion: 2, upcasters: withTerms, schema: object({ ...sub, fromPlanId: { type: 'string' }, toPlanId: { type: 'string' }, toPlanName: { type: 'string' }, unitAmount: minorUnits, ...change }) },
  {
    type: 'billing.subscription.renewed',
    schemaVersion: 2,
    upcasters: withTerms,
    schema: object({ ...sub, planId: { type: 'string' }, planName: { type: 'string' }, seats: { type: 'integer', minimum: 1 }, unitAmount: minorUnits, currency, periodStart: instant, periodEnd: instant, amount: minorUnits, lines, terms: chargeTerms }),
  },
  v1('billing.subscription.cancellation_scheduled', { ...sub, cancelAt: instant }),
  v1('billing.subscription.cancellation_unscheduled', { ...sub }),
  v1('billing.subscription.canceled', { ...sub, canceledAt: instant, reason: { enum: ['requested', 'period_end', 'unpaid', 'provider'] } }),
  v1('billing.subscription.past_due', { ...sub, invoiceId: uuid, dueAt: instant }),
  v1('billing.subscription.recovered', { ...sub, invoiceId: uuid }),
  v1('billing.subscription.unpaid', { ...sub, invoiceId: uuid }),
  v1('billing.receivable.opened', { invoiceId: uuid, subscriptionId: { anyOf: [uuid, { type: 'null' }] }, amountDue: minorUnits, currency, dueAt: { anyOf: [instant, { type: 'null' }] }, collectionMethod: { enum: [...collectionMethods] } }),
  v1('billing.payment.succeeded', { ...payment, appliedAmount: minorUnits, excessAmount: minorUnits, amountRemaining: minorUnits }),
  v1('billing.payment.failed', { ...payment, failureMessage: { type: 'string' } }),
  v1('billing.payment.requires_action', { ...payment, nextAction: { type: 'string' } }),
  {
    type: 'billing.payment.refunded',
    schemaVersion: 2,
    schema: object({ ...payment, refundId: { type: 'string' }, refundedAmount: minorUnits, reopenedAmount: minorUnits }),
    // Version 1 refunds were Stripe's only, which do not reopen the invoice.
    upcasters: { 1: (data) => ({ ...(data as object), reopenedAmount: 0 }) },
  },
  v1('billing.remittance_advice.received', { adviceId: { type: 'string', minLength: 1 }, invoiceId: uuid, amount: minorUnits, currency, reference: { type: 'string', minLength: 1 }, sentAt: instant }),
  v1('billing.terms.set', { collectionMethods: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...collectionMethods] } }, daysUntilDue: { type: 'integer', minimum: 0, maximum: 365 } }),
  {
    type: 'billing.subscription.provider_synced',
    schemaVersion: 2,
    schema: object({ ...sub, stripeEventId: { type: 'string' }, created: { type: 'integer' }, status: { type: 'string' }, statusRank: { type: 'integer', minimum: 0 } }),
    // Version 1 recorded Stripe's word only; its rank is Stripe's order of a subscription's life.
    upcasters: { 1: (data) => ({ ...(data as object), statusRank: stripeSubscriptionStatusRank((data as { status: string }).status) }) },
  },
  v1('billing.subscription.provider_requested', {
    ...sub,
    requestId: uuid,
    action: { enum: [...providerActions] },
    seats: { type: 'integer', minimum: 1 },
    planId: { type: 'string', minLength: 1 },
    effective: { enum: ['now', 'renewal'] },
    atPeriodEnd: { type: ['boolean', 'null'] },
    // Each effect is validated against its own schema when it is appended.
    effects: { type: 'array', items: { type: 'object', required: ['type', 'data'], properties: { type: { type: 'string', pattern: '^billing\\.subscription\\.' }, data: { type: 'object' } } } },
  }),
  v1('billing.subscription.provider_confirmed', { ...sub, requestId: uuid, action: { enum: [...providerActions] }, providerSubscriptionId: { type: 'string', minLength: 1 } }),
  v1('billing.subscription.provider_failed', { ...sub, requestId: uuid, action: { enum: [...providerActions] }, code: { type: 'string' }, message: { type: 'string' } }),
  v1('billing.refund.requested', { paymentId: { type: 'string', minLength: 1 }, requestId: uuid, amount: { type: 'integer', minimum: 1, maximum: MAX_AMOUNT }, currency }),
  v1('billing.refund.submitted', { paymentId: { type: 'string', minLength: 1 }, requestId: uuid, refundId: { type: 'string', minLength: 1 }, status: { type: 'string' }, amount: minorUnits }),
  v1('billing.refund.failed', { paymentId: { type: 'string', minLength: 1 }, requestId: uuid, code: { type: 'string' }, message: { type: 'string' } }),
  v1('billing.credit.granted', { amount: { type: 'integer', minimum: 1 }, currency, sourcePaymentId: { type: 'string', minLength: 1 } }),
  v1('billing.credit.applied', { amount: { type: 'integer', minimum: 1 }, currency, invoiceId: uuid }),
  v1('billing.customer.linked', { provider: { const: 'stripe' }, customerId: { type: 'string', pattern: '^cus_' } }),
  v1('billing.stripe_event.received', {
    stripeEventId: { type: 'string', pattern: '^evt_' },
    stripeType: { type: 'string' },
    created: { type: 'integer' },
    livemode: { type: 'boolean' },
    objectId: nullableString,
    payload: { type: 'object' },
    source: { enum: ['webhook', 'reconciliation'] },
  }),
];
