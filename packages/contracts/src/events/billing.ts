import type { EventContract } from '../eventRegistry.ts';
import { currency, instant, MAX_AMOUNT, minorUnits, object, timeZone, uuid, withOptional, type EventsOf, type SchemaType } from './common.ts';

export const collectionMethods = ['charge_automatically', 'send_invoice'] as const;
export type CollectionMethod = (typeof collectionMethods)[number];
export const paymentProviders = ['manual', 'stripe'] as const;
export type PaymentProviderKind = (typeof paymentProviders)[number];
export const providerActions = ['start', 'change', 'cancel', 'reactivate'] as const;
export type ProviderAction = (typeof providerActions)[number];

// The schemas are the contract; every type below is derived from them (SchemaType), never written twice.
const signed = { type: 'integer' } as const;
const text = { type: 'string' } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;
const nullableString = { type: ['string', 'null'] } as const;
const nullableUuid = { anyOf: [uuid, { type: 'null' }] } as const;
const nullableInstant = { anyOf: [instant, { type: 'null' }] } as const;
const collectionMethod = { enum: [...collectionMethods] } as const;
const provider = { enum: [...paymentProviders] } as const;
const action = { enum: [...providerActions] } as const;
const effective = { enum: ['now', 'renewal'] } as const;
const seatCount = { type: 'integer', minimum: 1 } as const;
const daysUntilDue = { type: ['integer', 'null'], minimum: 0 } as const;

/**
 * One line of a charge: a signed amount (credits are negative) for a span of the period. `meter`: the meter whose
 * usage an overage line bills (its evidence: GET /v1/invoices/{id}/lines/{n}/usage.csv); lines before it lack it.
 */
export const chargeLineSchema = withOptional(object({ description: text, quantity: { type: 'integer', minimum: 0 }, unitAmount: minorUnits, amount: signed, periodStart: instant, periodEnd: instant }), { meter: { type: 'string', minLength: 1, maxLength: 64 } });
export type ChargeLine = SchemaType<typeof chargeLineSchema>;
const lines = { type: 'array', items: chargeLineSchema } as const;

/** How a charge is collected and invoiced, as it was when the charge was made. */
const chargeTermsSchema = object({ collectionMethod, daysUntilDue, poNumber: nullableString, provider });
export type ChargeTerms = SchemaType<typeof chargeTermsSchema>;
/** Charges carry the terms they are invoiced on (`null` on events written before they did). */
const chargeTerms = { anyOf: [{ type: 'null' }, chargeTermsSchema] } as const;

const sub = { subscriptionId: uuid } as const;
/**
 * The plan's price version the year is sold at (events written before price versions lack it), and the version of
 * the organization's negotiated contract that priced it (null: none did; events written before contracts were
 * recorded lack it): usage and invoice take the year's included usage, overage prices and commitment from it.
 */
const sold = { planVersion: { type: 'integer', minimum: 1 }, contractVersion: { type: ['integer', 'null'], minimum: 1 } } as const;
const terms = {
  ...sub,
  planId: text,
  planName: text,
  seats: seatCount,
  currency,
  /** Price per seat per year, minor units. */
  unitAmount: minorUnits,
  collectionMethod,
  daysUntilDue,
  poNumber: nullableString,
  timeZone,
  provider,
  providerSubscriptionId: nullableString,
} as const;
export type SubscriptionTerms = SchemaType<ReturnType<typeof object<typeof terms>>>;

const payment = {
  paymentId: nonEmpty,
  invoiceId: nullableUuid,
  amount: minorUnits,
  currency,
  /** `credit_balance`: settled from an earlier over-payment. */
  method: { enum: ['bank_transfer', 'card', 'stripe', 'credit_balance'] },
  reference: nullableString,
  receivedAt: instant,
  provider,
  providerPaymentId: nullableString,
} as const;
export type PaymentData = SchemaType<ReturnType<typeof object<typeof payment>>>;

const change = { effective, effectiveAt: instant, currency, amount: signed, lines, terms: chargeTerms } as const;

const billingTermsSchema = object({
  /** What the organization may choose from, in order of preference. */
  collectionMethods: { type: 'array', minItems: 1, uniqueItems: true, items: collectionMethod },
  /** Days an invoice sent for payment by transfer is due after issue. */
  daysUntilDue: { type: 'integer', minimum: 0, maximum: 365 },
});
export type BillingTerms = SchemaType<typeof billingTermsSchema>;

/**
 * Outbox: a change the payment provider must carry out first. `effects` are the events to append once it has
 * (what the same command decides with manual collection); the process calling the provider uses the event's
 * id for its Idempotency-Key.
 */
const providerRequestSchema = object({
  ...sub,
  requestId: uuid,
  action,
  /** What to ask the provider: the seats and plan wanted, when the change applies, how to cancel. */
  seats: seatCount,
  planId: nonEmpty,
  effective,
  atPeriodEnd: { type: ['boolean', 'null'] },
  // Each effect is validated against its own schema when it is appended.
  effects: { type: 'array', items: { type: 'object', required: ['type', 'data'], properties: { type: { type: 'string', pattern: '^billing\\.subscription\\.' }, data: { type: 'object' } } } },
});
export type ProviderRequest = SchemaType<typeof providerRequestSchema>;

/** A verified Stripe webhook delivery (or a reconciled event), stored once per Stripe event id. */
const stripeEventReceivedSchema = object({
  stripeEventId: { type: 'string', pattern: '^evt_' },
  stripeType: text,
  created: { type: 'integer' },
  livemode: { type: 'boolean' },
  objectId: nullableString,
  payload: { type: 'object' },
  source: { enum: ['webhook', 'reconciliation'] },
});
export type StripeEventReceived = SchemaType<typeof stripeEventReceivedSchema>;

/** The current schema of every billing event's data. */
const billingEventSchemas = {
  'billing.subscription.activated': withOptional(object({ ...terms, periodStart: instant, periodEnd: instant, amount: minorUnits, lines }), sold),
  /** Created but not yet paid (Stripe, charge_automatically): `incomplete` until the first payment succeeds. */
  'billing.subscription.created': withOptional(object({ ...terms, periodStart: instant, periodEnd: instant, amount: minorUnits, lines }), sold),
  'billing.subscription.seats_changed': object({ ...sub, from: seatCount, to: seatCount, ...change }),
  'billing.subscription.plan_changed': withOptional(object({ ...sub, fromPlanId: text, toPlanId: text, toPlanName: text, unitAmount: minorUnits, ...change }), sold),
  'billing.subscription.renewed': withOptional(object({ ...sub, planId: text, planName: text, seats: seatCount, unitAmount: minorUnits, currency, periodStart: instant, periodEnd: instant, amount: minorUnits, lines, terms: chargeTerms }), sold),
  'billing.subscription.cancellation_scheduled': object({ ...sub, cancelAt: instant }),
  'billing.subscription.cancellation_unscheduled': object({ ...sub }),
  'billing.subscription.canceled': object({ ...sub, canceledAt: instant, reason: { enum: ['requested', 'period_end', 'unpaid', 'provider'] } }),
  'billing.subscription.past_due': object({ ...sub, invoiceId: uuid, dueAt: instant }),
  'billing.subscription.recovered': object({ ...sub, invoiceId: uuid }),
  'billing.subscription.unpaid': object({ ...sub, invoiceId: uuid }),
  /** `status`: the provider's own word, as seen; `statusRank` orders two events of the same second. */
  'billing.subscription.provider_synced': object({ ...sub, stripeEventId: text, created: { type: 'integer' }, status: text, statusRank: { type: 'integer', minimum: 0 } }),
  'billing.subscription.provider_requested': providerRequestSchema,
  'billing.subscription.provider_confirmed': object({ ...sub, requestId: uuid, action, providerSubscriptionId: nonEmpty }),
  'billing.subscription.provider_failed': object({ ...sub, requestId: uuid, action, code: text, message: text }),
  'billing.receivable.opened': object({ invoiceId: uuid, subscriptionId: nullableUuid, amountDue: minorUnits, currency, dueAt: nullableInstant, collectionMethod }),
  'billing.payment.succeeded': object({ ...payment, appliedAmount: minorUnits, excessAmount: minorUnits, amountRemaining: minorUnits }),
  /**
   * A card payment recorded before Stripe said which invoice it paid (`payment_intent.succeeded` comes before
   * `invoice.paid`): the invoice it paid, once. `appliedAmount` counts on that invoice as a succeeded payment's does.
   * `reference`: the payment's, for the receipt sent now (absent on links recorded before it was carried).
   */
  'billing.payment.invoice_linked': withOptional(object({ paymentId: nonEmpty, invoiceId: uuid, amount: minorUnits, currency, appliedAmount: minorUnits, receivedAt: instant }), { reference: nullableString }),
  'billing.payment.failed': object({ ...payment, failureMessage: text }),
  'billing.payment.requires_action': object({ ...payment, nextAction: text }),
  /** `reopenedAmount`: how much of the invoice is owed again (manual refunds reopen; Stripe's do not, see billing-integration.md). */
  'billing.payment.refunded': object({ ...payment, refundId: text, refundedAmount: minorUnits, reopenedAmount: minorUnits }),
  /** Outbox for a card refund (stream payment-<pi>): the process asks Stripe with this event's id as key. */
  'billing.refund.requested': object({ paymentId: nonEmpty, requestId: uuid, amount: { type: 'integer', minimum: 1, maximum: MAX_AMOUNT }, currency }),
  'billing.refund.submitted': object({ paymentId: nonEmpty, requestId: uuid, refundId: nonEmpty, status: text, amount: minorUnits }),
  'billing.refund.failed': object({ paymentId: nonEmpty, requestId: uuid, code: text, message: text }),
  /** The customer says it sent a transfer: information for the operator, settles nothing. */
  /** The invoice was voided: nothing is owed any more; what was paid on it returns as credit. */
  'billing.receivable.canceled': object({ invoiceId: uuid, currency, amountPaid: minorUnits }),
  /** A credit note lowered what the invoice asks: what was already paid beyond the new amount returns as credit. */
  'billing.receivable.credited': object({ invoiceId: uuid, creditNoteId: uuid, amount: minorUnits, currency, amountDue: minorUnits, excessPaid: minorUnits, amountRemaining: minorUnits }),
  /** The invoice was marked uncollectible: no more dunning; a payment that still arrives settles it. */
  'billing.receivable.written_off': object({ invoiceId: uuid, amountRemaining: minorUnits }),
  'billing.remittance_advice.received': object({ adviceId: nonEmpty, invoiceId: uuid, amount: minorUnits, currency, reference: nonEmpty, sentAt: instant }),
  /** Payment terms the operator set for the organization (stream billingterms-<orgId>). */
  'billing.terms.set': billingTermsSchema,
  /** An over-payment becomes the organization's credit, spent on its next invoices (stream credit-<orgId>). */
  /**
   * `source` (optional: events written before lack it): the event the credit came from (an over-payment, a credit
   * note's or a void's release), so a reader can wait for that very write to be projected.
   */
  'billing.credit.granted': withOptional(object({ amount: { type: 'integer', minimum: 1 }, currency, sourcePaymentId: nonEmpty }), { source: object({ streamId: nonEmpty, version: { type: 'integer', minimum: 0 }, type: nonEmpty }) }),
  'billing.credit.applied': object({ amount: { type: 'integer', minimum: 1 }, currency, invoiceId: uuid }),
  'billing.customer.linked': object({ provider: { const: 'stripe' }, customerId: { type: 'string', pattern: '^cus_' } }),
  'billing.stripe_event.received': stripeEventReceivedSchema,
};

export type BillingEvent = EventsOf<typeof billingEventSchemas>;
export type BillingEventType = BillingEvent['type'];

// Stripe's subscription statuses in the order a subscription lives through them (later ranks higher): what
// orders two Stripe events of the same second. Used where Stripe's words are translated, and for old events.
const stripeRanks: Record<string, number> = { incomplete: 0, trialing: 1, active: 2, past_due: 3, unpaid: 4, paused: 4, canceled: 5, incomplete_expired: 5 };
export const stripeSubscriptionStatusRank = (status: string): number => stripeRanks[status] ?? 0;

/** Version 2 of a charge event carries its terms; version 1 did not (consumers fall back to the subscription's). */
const withTerms = { 1: (data: unknown) => ({ ...(data as object), terms: null }) };

/** Types at a later schema version than 1, with the upcasters that bring older data up to it. */
const upgrades: Partial<Record<BillingEventType, Pick<EventContract, 'schemaVersion' | 'upcasters'>>> = {
  'billing.subscription.seats_changed': { schemaVersion: 2, upcasters: withTerms },
  'billing.subscription.plan_changed': { schemaVersion: 2, upcasters: withTerms },
  'billing.subscription.renewed': { schemaVersion: 2, upcasters: withTerms },
  // Version 1 refunds were Stripe's only, which do not reopen the invoice.
  'billing.payment.refunded': { schemaVersion: 2, upcasters: { 1: (data) => ({ ...(data as object), reopenedAmount: 0 }) } },
  // Version 1 recorded Stripe's word only; its rank is Stripe's order of a subscription's life.
  'billing.subscription.provider_synced': { schemaVersion: 2, upcasters: { 1: (data) => ({ ...(data as object), statusRank: stripeSubscriptionStatusRank((data as { status: string }).status) }) } },
};

export const billingContracts: EventContract[] = Object.entries(billingEventSchemas).map(([type, schema]) => ({ type, schema, schemaVersion: 1, ...upgrades[type as BillingEventType] }));
