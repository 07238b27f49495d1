import { deterministicUuid, NotFoundError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { HttpError, NotYetVisibleError, runCommand, type ServiceContext } from '@curbmap/service-kit';
import { providerOutcome, providerRefused } from './providerOutcome.ts';
import type { PaymentProvider } from '../adapters/payment/paymentProvider.ts';
import { subscriptionDecider, subscriptionStream, type PlanPrice, type SubscriptionCommand } from '../domain/subscription/subscriptionDecider.ts';
import { DateTime } from 'luxon';
import { contractSeatPrice, contractYear, planVersionAt, type CollectionMethod, type Plan } from '@curbmap/contracts';
import { billingContracts } from '../projections/contractProjection.ts';
import { billingPlans } from '../projections/planProjection.ts';
import { billingCollections as C, type CustomerView, type SubscriptionView } from '../projections/billingProjections.ts';
import { billingTermsOf } from './billingTermsCommands.ts';

export interface BillingDeps {
  ctx: ServiceContext;
  provider: PaymentProvider;
}

export function runSubscriptionCommand(ctx: ServiceContext, command: SubscriptionCommand, options?: { consistent?: boolean }) {
  return runCommand(ctx, subscriptionDecider, subscriptionStream(command.metadata.organizationId), command, options);
}

export async function customerOf(ctx: ServiceContext, organizationId: string): Promise<CustomerView> {
  const customer = await ctx.readStore.get<CustomerView>(C.customers, organizationId);
  if (!customer) throw new NotFoundError('organization');
  return customer;
}

export function planPrice(plan: Plan, currency: string): PlanPrice {
  const unitAmount = plan.seatPrices[currency];
  if (unitAmount === undefined) throw new ValidationError(`plan ${plan.id} has no price in ${currency}; it is sold in ${Object.keys(plan.seatPrices).join(', ')}`);
  return { planId: plan.id, name: plan.name, tier: plan.tier, unitAmount, ...('version' in plan && typeof plan.version === 'number' ? { version: plan.version } : {}) };
}

/**
 * A year's seat price under the organization's contract, if the version in effect when the year is priced
 * (`pricedAt`: its sale, or its renewal) covers this plan and the year starting at `periodStart` is within its term:
 * its price, or the plan's less its discount, raised by its escalator once per year of the term (contractSeatPrice).
 * The plan's price otherwise. Named on the invoice line (`City, contract <reference>`). `planUnitAmount`: the plan's
 * own price that year (discounts apply to it).
 */
export async function withContract<P extends Omit<PlanPrice, 'tier'>>(ctx: ServiceContext, organizationId: string, price: P, planUnitAmount: number, currency: string, periodStart: string, timeZone: string, pricedAt: string): Promise<{ price: P; seatPriced: boolean }> {
  const contract = await billingContracts(ctx).at(organizationId, pricedAt);
  // The version recorded on the year wherever it governs it (its plan, within its term), seat price or not: usage
  // and invoice take the year's included usage and overage prices from it.
  const { contractVersion: _previous, ...unpriced } = price;
  if (!contract || contract.planId !== price.planId || contractYear(contract, periodStart, timeZone) === null) return { price: unpriced as P, seatPriced: false };
  const unitAmount = contractSeatPrice(contract, price.planId, currency, planUnitAmount, periodStart, timeZone);
  if (unitAmount === null) return { price: { ...unpriced, contractVersion: contract.version } as P, seatPriced: false };
  const planName = (await billingPlans(ctx).at(price.planId, periodStart))?.name ?? price.name;
  return { price: { ...unpriced, unitAmount, name: `${planName}, contract ${contract.reference ?? `v${contract.version}`}`, contractVersion: contract.version } as P, seatPriced: true };
}

/** The local midnight a subscription year sold at `now` starts at. */
const dayStart = (now: string, timeZone: string) => DateTime.fromISO(now, { zone: timeZone }).startOf('day').toUTC().toISO()!;

/**
 * The plan's terms in effect at the sale (or change): the version the subscription records, which usage and
 * invoice then price the year's included amounts and overage at.
 */
async function planOrFail(ctx: ServiceContext, planId: string, at: string): Promise<Plan> {
  const plan = await billingPlans(ctx).at(planId, at);
  if (!plan) throw new ValidationError(`unknown plan ${planId}; see GET /v1/plans`);
  return plan;
}

export async function subscriptionOf(ctx: ServiceContext, organizationId: string): Promise<SubscriptionView> {
  const view = await ctx.readStore.get<SubscriptionView>(C.subscriptions, organizationId);
  if (!view || view.status === 'none') throw new NotFoundError('subscription');
  return view;
}

/**
 * With a provider that keeps its own subscription (Stripe), a command appends a request and the provider
 * outbox carries it out (providerOutbox.ts). The HTTP answer waits a bounded time for the outcome: the
 * provider's refusal is answered as such (402 for a card, 502 otherwise); a provider still working answers
 * 202 with the subscription to poll. The request is in our log either way: nothing happens at the provider
 * that our log does not know.
 */
async function runWithProvider(ctx: ServiceContext, command: SubscriptionCommand) {
  const result = await runSubscriptionCommand(ctx, command);
  const request = result.events.find((e) => e.type === 'billing.subscription.provider_requested');
  if (!request || request.type !== 'billing.subscription.provider_requested') return result;
  const streamId = subscriptionStream(command.metadata.organizationId);
  const outcome = await providerOutcome(ctx, streamId, request.data.requestId, ['billing.subscription.provider_confirmed', 'billing.subscription.provider_failed']);
  if (!outcome) throw new NotYetVisibleError(['the payment provider']);
  if (outcome.event.type === 'billing.subscription.provider_failed') throw providerRefused(outcome.event.data as { code: string; message: string });
  await ctx.waitForReadModels(outcome.write);
  return result;
}

/** A provider failure is the provider's, not ours: 402 for a card problem, 502 otherwise, with its message. */
export async function providerCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (typeof type === 'string' && type.startsWith('Stripe')) {
      const status = type === 'StripeCardError' ? 402 : 502;
      throw new HttpError(status, 'payment_provider_error', `the payment provider refused the request: ${(err as Error).message}`);
    }
    throw err;
  }
}

export async function createSubscription({ ctx, provider }: BillingDeps, meta: CommandMetadata, input: { planId: string; seats: number; collectionMethod?: CollectionMethod; poNumber?: string }) {
  const customer = await customerOf(ctx, meta.organizationId);
  const plan = await planOrFail(ctx, input.planId, meta.now);
  const listed = planPrice(plan, customer.currency);
  // A contract prices what is collected by invoice; Stripe charges its own prices.
  const price = provider.kind === 'manual' ? (await withContract(ctx, meta.organizationId, listed, listed.unitAmount, customer.currency, dayStart(meta.now, customer.timeZone), customer.timeZone, meta.now)).price : listed;
  // The customer chooses only within the payment terms the operator granted (default: this platform's).
  const terms = await billingTermsOf(ctx, provider.kind, meta.organizationId);
  const collectionMethod = input.collectionMethod ?? terms.collectionMethods[0]!;
  if (!terms.collectionMethods.includes(collectionMethod)) {
    throw new ValidationError(`your payment terms allow ${terms.collectionMethods.join(' or ')}; ask the operator to change them for ${collectionMethod}`);
  }
  const daysUntilDue = collectionMethod === 'send_invoice' ? terms.daysUntilDue : null;
  // The id derives from the command: a retried request is the same subscription (and the same provider request).
  const subscriptionId = deterministicUuid(`${meta.commandId}:subscription`);
  const data = { subscriptionId, plan: price, seats: input.seats, currency: customer.currency, collectionMethod, daysUntilDue, poNumber: input.poNumber ?? null, timeZone: customer.timeZone, provider: provider.kind, providerSubscriptionId: null };
  return runWithProvider(ctx, { type: 'CreateSubscription', data, metadata: meta });
}

export async function changeSubscription({ ctx }: BillingDeps, meta: CommandMetadata, input: { seats?: number; planId?: string }) {
  const current = (await subscriptionOf(ctx, meta.organizationId)).state;
  if (input.planId !== undefined) {
    const plan = await planOrFail(ctx, input.planId, meta.now);
    // The current plan's tier at the version the subscription records (else the one in effect now): one read.
    const versions = await billingPlans(ctx).versions(current.planId);
    const currentTier = (versions.find((v) => v.version === current.planVersion) ?? planVersionAt(versions, meta.now))?.tier ?? 0;
    const listed = planPrice(plan, current.currency);
    // The rest of the year at the contract's price for this year of it, when it covers the new plan.
    const price = current.provider === 'manual' ? (await withContract(ctx, meta.organizationId, listed, listed.unitAmount, current.currency, current.period.start, current.timeZone, meta.now)).price : listed;
    return runWithProvider(ctx, { type: 'ChangeSubscription', data: { plan: price, currentTier }, metadata: meta });
  }
  return runWithProvider(ctx, { type: 'ChangeSubscription', data: { seats: input.seats! }, metadata: meta });
}

export async function cancelSubscription({ ctx }: BillingDeps, meta: CommandMetadata, atPeriodEnd: boolean) {
  await subscriptionOf(ctx, meta.organizationId);
  return runWithProvider(ctx, { type: 'CancelSubscription', data: { atPeriodEnd }, metadata: meta });
}

export async function reactivateSubscription({ ctx }: BillingDeps, meta: CommandMetadata) {
  await subscriptionOf(ctx, meta.organizationId);
  return runWithProvider(ctx, { type: 'ReactivateSubscription', data: {}, metadata: meta });
}
