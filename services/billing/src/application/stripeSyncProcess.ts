import { deterministicUuid, handleCommand, type CommandMetadata, type StoredEvent } from '@curbmap/eventsourcing';
import { stripeSubscriptionStatusRank, type StripeEventReceived } from '@curbmap/contracts';
import type { Running, ServiceContext } from '@curbmap/service-kit';
import { num, organizationFromMetadata, str, type StripeEventLike, type StripeObject } from '../adapters/stripe/stripeObjects.ts';
import { stripePaymentDecider, stripePaymentStream, type StripePaymentCommand } from '../domain/payment/stripePaymentDecider.ts';
import type { ProviderSubscriptionStatus } from '../domain/subscription/providerSync.ts';
import { billingPlans } from '../projections/planProjection.ts';
import { organizationOf } from './stripeEventIngest.ts';
import { billingCollections } from '../projections/billingProjections.ts';
import type { StripeInvoiceView } from '../projections/stripeProjection.ts';
import { runSubscriptionCommand, subscriptionOf } from './subscriptionCommands.ts';

const seconds = (n: number) => new Date(n * 1000).toISOString();

/**
 * Our plan for a Stripe price: a price id some version of a plan names (that version's name), or the product
 * `curbmap_<planId>` our adapter creates (the plan's latest name).
 */
async function planForPrice(ctx: ServiceContext, price: StripeObject | undefined): Promise<{ planId: string; name: string; unitAmount: number } | null> {
  if (!price) return null;
  const priceId = str(price.id);
  const productId = str(price['product']);
  const plans = await billingPlans(ctx).all();
  for (const plan of plans) {
    const version = [...plan.versions].reverse().find((v) => Object.values(v.stripePrices ?? {}).includes(priceId ?? ''));
    if (version) return { planId: plan.id, name: version.name, unitAmount: num(price['unit_amount']) };
  }
  const plan = plans.find((p) => productId === `curbmap_${p.id}`);
  return plan ? { planId: plan.id, name: plan.versions.at(-1)!.name, unitAmount: num(price['unit_amount']) } : null;
}

export interface StripeSyncOutcome {
  applied: boolean;
  reason?: string;
}

/** Reads from Stripe the sync process needs (the Stripe provider): objects as they are now, invoice payments. */
export interface StripeLookup {
  retrieve(kind: 'customer' | 'subscription' | 'invoice' | 'payment_intent' | 'charge', id: string): Promise<Record<string, unknown>>;
  invoicePaymentIntent(invoiceId: string): Promise<string | null>;
  paymentIntentInvoice(paymentIntentId: string): Promise<string | null>;
}

/**
 * An event that cannot be applied yet: our log does not know the object (the outbox's confirmation of the
 * subscription it refers to has not landed, a customer link is missing). Thrown, so the subscription retries
 * it and, if it never becomes applicable, parks it as a dead letter: a Stripe event is never silently used up.
 */
export class NotYetKnownError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotYetKnownError';
  }
}

/** Types whose objects must belong to one of our organizations: the others only feed the Stripe read model. */
const APPLIED = /^(customer\.subscription\.|payment_intent\.|invoice\.(paid|payment_failed)$|invoice_payment\.paid$|charge\.refunded$)/;

/** The organization of an object: our metadata, our customer link, or (for an object we have not seen) Stripe's copy of its customer. */
async function resolveOrganization(ctx: ServiceContext, lookup: StripeLookup | null, object: StripeObject): Promise<string | null> {
  if (object.object === 'invoice_payment') {
    // An InvoicePayment names its invoice only: the invoice's organization is its own.
    const invoiceId = str(object['invoice']);
    const mirrored = invoiceId ? await ctx.readStore.get<StripeInvoiceView>(billingCollections.stripeInvoices, invoiceId) : null;
    if (mirrored) return mirrored.organizationId;
    if (!invoiceId || !lookup) return null;
    return resolveOrganization(ctx, lookup, (await lookup.retrieve('invoice', invoiceId)) as StripeObject);
  }
  const known = await organizationOf(ctx, object);
  if (known || !lookup) return known;
  const customerId = object.object === 'customer' ? str(object.id) : str(object.customer);
  if (!customerId) return null;
  const customer = await lookup.retrieve('customer', customerId);
  return organizationFromMetadata(customer as StripeObject);
}

/** Stripe's subscription statuses in our words: the domain never reads Stripe's. */
function subscriptionStatusOf(stripeStatus: string): ProviderSubscriptionStatus {
  switch (stripeStatus) {
    case 'incomplete':
      return 'awaiting_first_payment';
    case 'active':
    case 'trialing':
      return 'active';
    case 'past_due':
      return 'past_due';
    case 'unpaid':
    case 'paused':
      return 'unpaid';
    case 'canceled':
    case 'incomplete_expired':
      return 'ended';
    default:
      throw new NotYetKnownError(`Stripe subscription status ${stripeStatus} is not one this code knows`);
  }
}

/** Applies one stored Stripe event to our aggregates. Idempotent: command ids derive from the Stripe event id. */
export async function applyStripeEvent(ctx: ServiceContext, received: StripeEventReceived, lookup: StripeLookup | null = null): Promise<StripeSyncOutcome> {
  const event = received.payload as unknown as StripeEventLike;
  const object = event.data.object;
  const type = event.type;
  if (!APPLIED.test(type)) return { applied: false, reason: 'read model only' };
  const organizationId = await resolveOrganization(ctx, lookup, object);
  if (!organizationId) throw new NotYetKnownError(`Stripe ${String(object.object)} ${String(object.id)} belongs to no organization we know (no organizationId in its or its customer's metadata)`);
  const metadata: CommandMetadata = { commandId: `stripe:${event.id}`, now: seconds(event.created), organizationId, correlationId: event.id };

  if (type.startsWith('customer.subscription.')) {
    const item = ((object['items'] as { data?: StripeObject[] } | undefined)?.data ?? [])[0];
    const plan = await planForPrice(ctx, item?.['price'] as StripeObject | undefined);
    if (!plan) throw new NotYetKnownError(`Stripe subscription ${String(object.id)} bills a price of no plan in the catalogue`);
    const ours = (await subscriptionOf(ctx, organizationId).catch(() => null))?.state;
    const providerSubscriptionId = str(object.id)!;
    if (ours?.providerSubscriptionId !== providerSubscriptionId) {
      // Ours by its metadata, but our log has not recorded Stripe's id yet (the outbox's confirmation is on its
      // way): wait for it rather than drop the event.
      const claimed = (object.metadata?.['subscriptionId'] ?? null) === ours?.subscriptionId;
      if (claimed || ours?.status === 'pending') throw new NotYetKnownError(`subscription ${providerSubscriptionId} is not recorded in our log yet`);
      return { applied: false, reason: `subscription ${providerSubscriptionId} is not this organization's current subscription` };
    }
    const start = num(object['current_period_start'] ?? item?.['current_period_start']);
    const end = num(object['current_period_end'] ?? item?.['current_period_end']);
    const stripeStatus = type === 'customer.subscription.deleted' ? 'canceled' : String(object['status']);
    await runSubscriptionCommand(ctx, {
      type: 'SyncFromProvider',
      data: {
        providerEventId: event.id,
        created: event.created,
        providerSubscriptionId,
        status: subscriptionStatusOf(stripeStatus),
        statusRank: stripeSubscriptionStatusRank(stripeStatus),
        providerStatus: stripeStatus,
        seats: num(item?.['quantity']) || 1,
        plan,
        // A schedule ending in a cancellation sets cancel_at (at the period's end), not cancel_at_period_end.
        cancelAtPeriodEnd: object['cancel_at_period_end'] === true || (typeof object['cancel_at'] === 'number' && object['cancel_at'] <= end),
        period: { start: seconds(start), end: seconds(end) },
        latestInvoiceId: str(object['latest_invoice']),
      },
      metadata,
    }, { consistent: false });
    return { applied: true };
  }

  const observed = (paymentId: string, amount: number, invoiceId: string | null = null) => ({
    paymentId,
    invoiceId,
    amount,
    currency: String(object['currency'] ?? '').toUpperCase(),
    receivedAt: seconds(event.created),
    providerPaymentId: paymentId,
    reference: str(object.id),
    created: event.created,
  });
  // Our id for a Stripe invoice (the read models key Stripe invoices this way).
  const ourInvoice = (stripeInvoiceId: string | null) => (stripeInvoiceId ? deterministicUuid(`stripe-invoice:${stripeInvoiceId}`) : null);
  /** The PaymentIntent behind an invoice: the current Invoice object does not name it; its InvoicePayments do. */
  const intentOfInvoice = async (invoiceId: string) => (lookup ? lookup.invoicePaymentIntent(invoiceId) : null);
  /**
   * The invoice's payment was recorded under the invoice's own id (its PaymentIntent was not known then): that is
   * the payment, and a later event naming the PaymentIntent must not count it on the invoice a second time.
   */
  const paidUnderInvoiceId = async (stripeInvoiceId: string) => {
    for await (const e of ctx.store.readStream(stripePaymentStream(stripeInvoiceId))) if (e.type === 'billing.payment.succeeded') return true;
    return false;
  };
  let command: (StripePaymentCommand['data'] & { kind: 'ApplyStripePayment' | 'ApplyStripeRefund' }) | null = null;
  const id = str(object.id)!;
  switch (type) {
    case 'payment_intent.succeeded': {
      // The invoice it paid, asked of Stripe (the PaymentIntent does not name it): recorded with it at once, or on
      // the invoice's own payment when that was recorded before the PaymentIntent was known (one charge, one payment).
      const invoice = lookup ? await lookup.paymentIntentInvoice(id) : null;
      const paymentId = invoice && (await paidUnderInvoiceId(invoice)) ? invoice : id;
      command = { kind: 'ApplyStripePayment', ...observed(paymentId, num(object['amount_received']) || num(object['amount']), ourInvoice(invoice)), outcome: 'succeeded' };
      break;
    }
    case 'payment_intent.payment_failed':
      command = { kind: 'ApplyStripePayment', ...observed(id, num(object['amount'])), outcome: 'failed', failureMessage: String((object['last_payment_error'] as { message?: string } | null)?.message ?? 'payment failed') };
      break;
    case 'payment_intent.requires_action':
      command = { kind: 'ApplyStripePayment', ...observed(id, num(object['amount'])), outcome: 'requires_action', nextAction: String((object['next_action'] as { type?: string } | null)?.type ?? 'use_stripe_sdk') };
      break;
    case 'invoice_payment.paid': {
      // The link between an invoice and the PaymentIntent that paid it: one charge, one payment.
      const payment = object['payment'] as { type?: string; payment_intent?: unknown } | undefined;
      const invoice = str(object['invoice']);
      const intent = payment?.type === 'payment_intent' && !(invoice && (await paidUnderInvoiceId(invoice))) ? str(payment.payment_intent) : null;
      command = { kind: 'ApplyStripePayment', ...observed(intent ?? invoice ?? id, num(object['amount_paid']), ourInvoice(invoice)), outcome: 'succeeded' };
      break;
    }
    case 'invoice.paid': {
      // Recorded under its PaymentIntent, so payment_intent.succeeded and invoice_payment.paid count it once;
      // an invoice paid without one (out of band) is its own payment.
      const intent = (await paidUnderInvoiceId(id)) ? null : await intentOfInvoice(id);
      command = { kind: 'ApplyStripePayment', ...observed(intent ?? id, num(object['amount_paid']), ourInvoice(id)), outcome: 'succeeded' };
      break;
    }
    case 'invoice.payment_failed': {
      const intent = await intentOfInvoice(id);
      const lastError = (object['last_finalization_error'] as { message?: string } | null)?.message;
      command = { kind: 'ApplyStripePayment', ...observed(intent ?? id, num(object['amount_due']), ourInvoice(id)), outcome: 'failed', failureMessage: lastError ?? 'invoice payment failed' };
      break;
    }
    case 'charge.refunded': {
      // Refunded on the payment the charge was recorded as: its invoice's, when that came first.
      const intent = str(object['payment_intent']);
      const invoice = intent && lookup ? await lookup.paymentIntentInvoice(intent) : null;
      const paymentId = invoice && (await paidUnderInvoiceId(invoice)) ? invoice : (intent ?? id);
      command = { kind: 'ApplyStripeRefund', ...observed(paymentId, num(object['amount'])), refundId: str(((object['refunds'] as { data?: StripeObject[] } | undefined)?.data ?? [])[0]?.id) ?? `${id}_refund`, amountRefunded: num(object['amount_refunded']) };
      break;
    }
    default:
      return { applied: false, reason: 'read model only' };
  }
  const { kind, ...data } = command;
  await handleCommand(ctx.store, stripePaymentDecider, stripePaymentStream(data.paymentId), { type: kind, data, metadata } as StripePaymentCommand);
  return { applied: true };
}

/** Applies stored Stripe events in the order they arrived; their own `created` decides what is stale. */
export function startStripeSyncProcess(ctx: ServiceContext, lookup: StripeLookup | null): Running {
  const log = ctx.log.child({ component: 'stripe-sync' });
  const sub = ctx.subscriptions.subscribe('billing.stripe-sync.v1', { types: ['billing.stripe_event.received'] }, async (batch: StoredEvent[]) => {
    for (const stored of batch) {
      const received = stored.data as StripeEventReceived;
      const outcome = await applyStripeEvent(ctx, received, lookup);
      if (!outcome.applied && outcome.reason !== 'read model only') log.warn({ stripeEventId: received.stripeEventId, type: received.stripeType, reason: outcome.reason }, 'stripe event not applied');
    }
  });
  return { stop: () => sub.stop() };
}
