import type { CollectionMethod } from '@curbmap/contracts';
import { NotFoundError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { HttpError, runCommand, type ServiceContext } from '@curbmap/service-kit';
import type { PaymentProvider } from '../adapters/payment/paymentProvider.ts';
import { subscriptionDecider, subscriptionStream, type PlanPrice, type SubscriptionCommand } from '../domain/subscription/subscriptionDecider.ts';
import type { PlanCatalog, Plan } from '../plans/planCatalog.ts';
import { billingCollections as C, type CustomerView, type SubscriptionView } from '../projections/billingProjections.ts';
import { billingTermsOf } from './billingTermsCommands.ts';

export interface BillingDeps {
  ctx: ServiceContext;
  catalog: PlanCatalog;
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
  return { planId: plan.id, name: plan.name, tier: plan.tier, unitAmount };
}

function planOrFail(catalog: PlanCatalog, planId: string): Plan {
  const plan = catalog.get(planId);
  if (!plan) throw new ValidationError(`unknown plan ${planId}; see GET /v1/plans`);
  return plan;
}

export async function subscriptionOf(ctx: ServiceContext, organizationId: string): Promise<SubscriptionView> {
  const view = await ctx.readStore.get<SubscriptionView>(C.subscriptions, organizationId);
  if (!view) throw new NotFoundError('subscription');
  return view;
}

/**
 * Decides against the current read model first, so the provider is only called for a change the domain accepts
 * (a refused or no-op command makes no call); the command then runs for real against the stream.
 */
async function withProvider(ctx: ServiceContext, command: SubscriptionCommand, state: SubscriptionView['state'] | null, call: () => Promise<void>) {
  const planned = subscriptionDecider.decide(command, state ?? subscriptionDecider.initialState());
  if (planned.length > 0) await providerCall(call);
  return runSubscriptionCommand(ctx, command);
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

export async function createSubscription(
  { ctx, catalog, provider }: BillingDeps,
  meta: CommandMetadata,
  input: { planId: string; seats: number; collectionMethod?: CollectionMethod; poNumber?: string },
) {
  const plan = planOrFail(catalog, input.planId);
  const customer = await customerOf(ctx, meta.organizationId);
  const price = planPrice(plan, customer.currency);
  // The customer chooses only within the payment terms the operator granted (default: this platform's).
  const terms = await billingTermsOf(ctx, provider.kind, meta.organizationId);
  const collectionMethod = input.collectionMethod ?? terms.collectionMethods[0]!;
  if (!terms.collectionMethods.includes(collectionMethod)) {
    throw new ValidationError(`your payment terms allow ${terms.collectionMethods.join(' or ')}; ask the operator to change them for ${collectionMethod}`);
  }
  const daysUntilDue = collectionMethod === 'send_invoice' ? terms.daysUntilDue : null;
  const subscriptionId = ctx.newId();
  const existing = await ctx.readStore.get<SubscriptionView>(C.subscriptions, meta.organizationId);
  const data = { subscriptionId, plan: price, seats: input.seats, currency: customer.currency, collectionMethod, daysUntilDue, poNumber: input.poNumber ?? null, timeZone: customer.timeZone, provider: provider.kind, providerSubscriptionId: null as string | null };
  return withProvider(ctx, { type: 'CreateSubscription', data, metadata: meta }, existing?.state ?? null, async () => {
    const started = await provider.startSubscription({ customer, plan, seats: input.seats, collectionMethod, daysUntilDue, poNumber: data.poNumber, subscriptionId, idempotencyKey: `${meta.commandId}:start` });
    data.providerSubscriptionId = started.providerSubscriptionId;
  });
}

export async function changeSubscription({ ctx, catalog, provider }: BillingDeps, meta: CommandMetadata, input: { seats?: number; planId?: string }) {
  const view = await subscriptionOf(ctx, meta.organizationId);
  const current = view.state;
  const ref = current.providerSubscriptionId;
  const idempotencyKey = `${meta.commandId}:change`;
  if (input.planId !== undefined) {
    const plan = planOrFail(catalog, input.planId);
    const currentTier = catalog.get(current.planId)?.tier ?? 0;
    const command: SubscriptionCommand = { type: 'ChangeSubscription', data: { plan: planPrice(plan, current.currency), currentTier }, metadata: meta };
    return withProvider(ctx, command, current, () => provider.changeSubscription({ providerSubscriptionId: ref, plan, currency: current.currency, seats: current.seats, prorateNow: plan.tier > currentTier, idempotencyKey }));
  }
  const seats = input.seats!;
  const plan = planOrFail(catalog, current.planId);
  const command: SubscriptionCommand = { type: 'ChangeSubscription', data: { seats }, metadata: meta };
  return withProvider(ctx, command, current, () => provider.changeSubscription({ providerSubscriptionId: ref, plan, currency: current.currency, seats, prorateNow: seats > current.seats, idempotencyKey }));
}

export async function cancelSubscription({ ctx, provider }: BillingDeps, meta: CommandMetadata, atPeriodEnd: boolean) {
  const view = await subscriptionOf(ctx, meta.organizationId);
  const command: SubscriptionCommand = { type: 'CancelSubscription', data: { atPeriodEnd }, metadata: meta };
  return withProvider(ctx, command, view.state, () => provider.cancelSubscription({ providerSubscriptionId: view.state.providerSubscriptionId, atPeriodEnd, idempotencyKey: `${meta.commandId}:cancel` }));
}

export async function reactivateSubscription({ ctx, provider }: BillingDeps, meta: CommandMetadata) {
  const view = await subscriptionOf(ctx, meta.organizationId);
  const command: SubscriptionCommand = { type: 'ReactivateSubscription', data: {}, metadata: meta };
  return withProvider(ctx, command, view.state, () => provider.reactivateSubscription({ providerSubscriptionId: view.state.providerSubscriptionId, idempotencyKey: `${meta.commandId}:reactivate` }));
}
