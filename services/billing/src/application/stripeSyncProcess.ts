import { handleCommand, type CommandMetadata, type StoredEvent } from '@curbmap/eventsourcing';
import type { StripeEventReceived } from '@curbmap/contracts';
import type { Running, ServiceContext } from '@curbmap/service-kit';
import { num, str, type StripeEventLike, type StripeObject } from '../adapters/stripe/stripeObjects.ts';
import { stripePaymentDecider, stripePaymentStream, type StripePaymentCommand } from '../domain/payment/stripePaymentDecider.ts';
import type { PlanCatalog } from '../plans/planCatalog.ts';
import { organizationOf } from './stripeEventIngest.ts';
import { runSubscriptionCommand } from './subscriptionCommands.ts';

const seconds = (n: number) => new Date(n * 1000).toISOString();

/** Our plan for a Stripe price: a configured price id, or the product `curbmap_<planId>` our adapter creates. */
function planForPrice(catalog: PlanCatalog, price: StripeObject | undefined): { planId: string; name: string; unitAmount: number } | null {
  if (!price) return null;
  const priceId = str(price.id);
  const productId = str(price['product']);
  const plan = catalog.plans.find((p) => Object.values(p.stripePrices ?? {}).includes(priceId ?? '')) ?? catalog.plans.find((p) => productId === `curbmap_${p.id}`);
  return plan ? { planId: plan.id, name: plan.name, unitAmount: num(price['unit_amount']) } : null;
}

export interface StripeSyncOutcome {
  applied: boolean;
  reason?: string;
}

/** Applies one stored Stripe event to our aggregates. Idempotent: command ids derive from the Stripe event id. */
export async function applyStripeEvent(ctx: ServiceContext, catalog: PlanCatalog, received: StripeEventReceived): Promise<StripeSyncOutcome> {
  const event = received.payload as unknown as StripeEventLike;
  const object = event.data.object;
  const organizationId = await organizationOf(ctx, object);
  if (!organizationId) return { applied: false, reason: 'no organization for this object' };
  const metadata: CommandMetadata = { commandId: `stripe:${event.id}`, now: seconds(event.created), organizationId, correlationId: event.id };
  const type = event.type;

  if (type.startsWith('customer.subscription.')) {
    const item = ((object['items'] as { data?: StripeObject[] } | undefined)?.data ?? [])[0];
    const plan = planForPrice(catalog, item?.['price'] as StripeObject | undefined);
    if (!plan) return { applied: false, reason: 'price of no known plan' };
    const start = num(object['current_period_start'] ?? item?.['current_period_start']);
    const end = num(object['current_period_end'] ?? item?.['current_period_end']);
    await runSubscriptionCommand(ctx, {
      type: 'SyncFromStripe',
      data: {
        stripeEventId: event.id,
        created: event.created,
        providerSubscriptionId: str(object.id)!,
        status: type === 'customer.subscription.deleted' ? 'canceled' : String(object['status']),
        seats: num(item?.['quantity']) || 1,
        plan,
        cancelAtPeriodEnd: object['cancel_at_period_end'] === true,
        period: { start: seconds(start), end: seconds(end) },
        latestInvoiceId: str(object['latest_invoice']),
      },
      metadata,
    }, { consistent: false });
    return { applied: true };
  }

  const observed = (paymentId: string, amount: number) => ({
    paymentId,
    invoiceId: null,
    amount,
    currency: String(object['currency'] ?? '').toUpperCase(),
    receivedAt: seconds(event.created),
    providerPaymentId: paymentId,
    reference: str(object.id),
    created: event.created,
  });
  let command: StripePaymentCommand['data'] & { kind: StripePaymentCommand['type'] } | null = null;
  const pi = str(object.id)!;
  switch (type) {
    case 'payment_intent.succeeded':
      command = { kind: 'ApplyStripePayment', ...observed(pi, num(object['amount_received']) || num(object['amount'])), outcome: 'succeeded' };
      break;
    case 'payment_intent.payment_failed':
      command = { kind: 'ApplyStripePayment', ...observed(pi, num(object['amount'])), outcome: 'failed', failureMessage: String((object['last_payment_error'] as { message?: string } | null)?.message ?? 'payment failed') };
      break;
    case 'payment_intent.requires_action':
      command = { kind: 'ApplyStripePayment', ...observed(pi, num(object['amount'])), outcome: 'requires_action', nextAction: String((object['next_action'] as { type?: string } | null)?.type ?? 'use_stripe_sdk') };
      break;
    case 'invoice.paid':
      // Recorded under its PaymentIntent when it has one, so payment_intent.succeeded does not count it twice.
      command = { kind: 'ApplyStripePayment', ...observed(str(object['payment_intent']) ?? pi, num(object['amount_paid'])), outcome: 'succeeded' };
      break;
    case 'invoice.payment_failed': {
      const intent = str(object['payment_intent']);
      if (intent) command = { kind: 'ApplyStripePayment', ...observed(intent, num(object['amount_due'])), outcome: 'failed', failureMessage: 'invoice payment failed' };
      break;
    }
    case 'charge.refunded':
      command = { kind: 'ApplyStripeRefund', ...observed(str(object['payment_intent']) ?? pi, num(object['amount'])), refundId: str(((object['refunds'] as { data?: StripeObject[] } | undefined)?.data ?? [])[0]?.id) ?? `${pi}_refund`, amountRefunded: num(object['amount_refunded']) };
      break;
    default:
      // customer.* and the other invoice.* events only update the Stripe read model; unknown types are kept, not applied.
      return { applied: false, reason: 'read model only' };
  }
  if (!command) return { applied: false, reason: 'nothing to apply' };
  const { kind, ...data } = command;
  await handleCommand(ctx.store, stripePaymentDecider, stripePaymentStream(data.paymentId), { type: kind, data, metadata } as StripePaymentCommand);
  return { applied: true };
}

/** Applies stored Stripe events in the order they arrived; their own `created` decides what is stale. */
export function startStripeSyncProcess(ctx: ServiceContext, catalog: PlanCatalog): Running {
  const log = ctx.log.child({ component: 'stripe-sync' });
  const sub = ctx.subscriptions.subscribe('billing.stripe-sync.v1', { types: ['billing.stripe_event.received'] }, async (batch: StoredEvent[]) => {
    for (const stored of batch) {
      const received = stored.data as StripeEventReceived;
      const outcome = await applyStripeEvent(ctx, catalog, received);
      if (!outcome.applied && outcome.reason !== 'read model only') log.warn({ stripeEventId: received.stripeEventId, type: received.stripeType, reason: outcome.reason }, 'stripe event not applied');
    }
  });
  return { stop: () => sub.stop() };
}
