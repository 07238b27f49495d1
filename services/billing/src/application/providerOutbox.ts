import type { BillingEvent, ProviderRequest } from '@curbmap/contracts';
import { handleCommand, loadState, type StoredEvent } from '@curbmap/eventsourcing';
import { reactionMetadata, type Running, type ServiceContext } from '@curbmap/service-kit';
import { ProviderRefusal, type PaymentProvider } from '../adapters/payment/paymentProvider.ts';
import { stripePaymentDecider, stripePaymentStream } from '../domain/payment/stripePaymentDecider.ts';
import { subscriptionDecider, subscriptionStream, type Subscription } from '../domain/subscription/subscriptionDecider.ts';
import { billingPlans } from '../projections/planProjection.ts';
import type { Plan } from '@curbmap/contracts';
import { customerOf, runSubscriptionCommand } from './subscriptionCommands.ts';

/**
 * The provider outbox: every call that changes something at the payment provider is made here, in reaction
 * to an intent event already in our log, with an Idempotency-Key derived from that event's id. The outcome
 * is appended as its own event. A crash or timeout between the call and the append replays the event, which
 * makes the same call with the same key: the provider answers as the first time, and nothing exists at the
 * provider that our log does not know.
 *
 * A refusal that will not change (a declined card, an invalid request) is the request's outcome; anything
 * else (network, 5xx, rate limit after the client's retries) throws, so the subscription retries and in the
 * end parks the event as a dead letter for an operator.
 */
export function startProviderOutbox(ctx: ServiceContext, provider: PaymentProvider): Running {
  const types = ['billing.subscription.provider_requested', 'billing.refund.requested'];
  // Small batches: a replay after a crash repeats few calls (each is idempotent at the provider anyway).
  const sub = ctx.subscriptions.subscribe('billing.provider-outbox.v1', { types }, async (batch) => {
    for (const stored of batch) await carryOut(ctx, provider, stored);
  }, { batchSize: 10 });
  return { stop: () => sub.stop() };
}

async function carryOut(ctx: ServiceContext, provider: PaymentProvider, stored: StoredEvent): Promise<void> {
  const event = { type: stored.type, data: stored.data } as BillingEvent;
  if (event.type === 'billing.subscription.provider_requested') return carryOutSubscriptionRequest(ctx, provider, stored, event.data);
  if (event.type === 'billing.refund.requested') {
    const { paymentId, requestId, amount } = event.data;
    const outcome = await attempt(() => provider.refund({ providerPaymentId: paymentId, amount, idempotencyKey: `refund:${stored.id}` }));
    const data = 'refusal' in outcome ? { requestId, outcome: 'failed' as const, ...outcome.refusal } : { requestId, outcome: 'submitted' as const, refundId: outcome.value.refundId, status: outcome.value.status };
    await handleCommand(ctx.store, stripePaymentDecider, stripePaymentStream(paymentId), { type: 'RecordRefundOutcome', data, metadata: reactionMetadata(stored, 'refund-outcome') });
  }
}

/**
 * The plan as the provider should bill it: at the seat price the command charged (its effects carry it; the
 * version it came from may no longer be the one in effect), a configured Stripe price only where it is that price.
 */
async function pricedAsCharged(ctx: ServiceContext, request: ProviderRequest, state: { planId: string; unitAmount: number; currency: string }, at: string): Promise<Plan> {
  const { currency } = state;
  const plan = (await billingPlans(ctx).at(request.planId, at)) ?? (await billingPlans(ctx).versions(request.planId)).at(-1);
  if (!plan) throw new Error(`plan ${request.planId} is not in the catalogue`);
  // Seats alone keep the plan at the price the subscription has.
  const charged = request.effects.map((e) => (e.data as { unitAmount?: unknown }).unitAmount).find((v): v is number => typeof v === 'number') ?? (request.planId === state.planId ? state.unitAmount : undefined);
  if (charged === undefined || plan.seatPrices[currency] === charged) return plan;
  const { [currency]: _configured, ...stripePrices } = plan.stripePrices ?? {};
  return { ...plan, seatPrices: { ...plan.seatPrices, [currency]: charged }, stripePrices };
}

async function carryOutSubscriptionRequest(ctx: ServiceContext, provider: PaymentProvider, stored: StoredEvent, request: ProviderRequest): Promise<void> {
  const state = await subscriptionAt(ctx, stored.organizationId);
  // Answered already (a redelivery after the outcome was appended): nothing to do.
  if (state?.providerRequest?.requestId !== request.requestId) return;
  const plan = await pricedAsCharged(ctx, request, state, stored.occurredAt);
  const idempotencyKey = `${request.action}:${stored.id}`;
  const outcome = await attempt(async () => {
    switch (request.action) {
      case 'start': {
        const customer = await customerOf(ctx, stored.organizationId);
        const started = await provider.startSubscription({ customer, plan, seats: request.seats, collectionMethod: state.collectionMethod, daysUntilDue: state.daysUntilDue, poNumber: state.poNumber, subscriptionId: state.subscriptionId, idempotencyKey });
        if (!started.providerSubscriptionId) throw new Error('the provider started no subscription');
        return started.providerSubscriptionId;
      }
      case 'change':
        await provider.changeSubscription({ providerSubscriptionId: state.providerSubscriptionId, plan, currency: state.currency, seats: request.seats, effective: request.effective, cancelAtPeriodEnd: state.cancelAtPeriodEnd, idempotencyKey });
        return state.providerSubscriptionId!;
      case 'cancel':
        await provider.cancelSubscription({ providerSubscriptionId: state.providerSubscriptionId, atPeriodEnd: request.atPeriodEnd ?? true, idempotencyKey });
        return state.providerSubscriptionId!;
      case 'reactivate':
        await provider.reactivateSubscription({ providerSubscriptionId: state.providerSubscriptionId, idempotencyKey });
        return state.providerSubscriptionId!;
      default: {
        const exhaustive: never = request.action;
        throw new Error(`unknown provider action ${String(exhaustive)}`);
      }
    }
  });
  const metadata = reactionMetadata(stored, 'provider-outcome');
  if ('refusal' in outcome) {
    ctx.log.warn({ organizationId: stored.organizationId, action: request.action, ...outcome.refusal }, 'payment provider refused a request');
    await runSubscriptionCommand(ctx, { type: 'FailProviderRequest', data: { requestId: request.requestId, ...outcome.refusal }, metadata }, { consistent: false });
    return;
  }
  await runSubscriptionCommand(ctx, { type: 'ConfirmProviderRequest', data: { requestId: request.requestId, providerSubscriptionId: outcome.value }, metadata }, { consistent: false });
}

async function subscriptionAt(ctx: ServiceContext, organizationId: string): Promise<Subscription | null> {
  const state = await loadState(ctx.store, subscriptionDecider, subscriptionStream(organizationId));
  return state.status === 'none' ? null : state;
}

/** A refusal that retrying will not change, or the value; anything else is thrown to be retried. */
async function attempt<T>(call: () => Promise<T>): Promise<{ value: T } | { refusal: { code: string; message: string } }> {
  try {
    return { value: await call() };
  } catch (err) {
    if (err instanceof ProviderRefusal) return { refusal: { code: err.code, message: err.message } };
    const type = (err as { type?: string }).type;
    const message = err instanceof Error ? err.message : String(err);
    if (type === 'StripeCardError') return { refusal: { code: 'card_declined', message } };
    if (type === 'StripeInvalidRequestError' || type === 'StripeIdempotencyError') return { refusal: { code: (err as { code?: string }).code ?? 'invalid_request', message } };
    throw err;
  }
}
