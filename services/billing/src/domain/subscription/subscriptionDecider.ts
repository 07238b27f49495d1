import type { ChargeLine, ProviderRequest, SubscriptionTerms } from '@curbmap/contracts';
import { deterministicUuid, IllegalStateError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';
import { anchorFor, annualPeriod, type Period } from './billingPeriod.ts';
import { prorationLines } from './proration.ts';
import { decideProviderSync, type SyncFromProvider } from './providerSync.ts';
import { chargeTermsOf, evolveSubscription, type PlanPrice, type Subscription, type SubscriptionEvent, type SubscriptionState } from './subscription.ts';

export { subscriptionStream, type PlanPrice, type Subscription, type SubscriptionEvent, type SubscriptionState, type SubscriptionStatus } from './subscription.ts';


/** The subscription's terms, with the plan's price looked up in the catalogue by the application. */
export type CreateSubscription = Command<'CreateSubscription', Omit<SubscriptionTerms, 'planId' | 'planName' | 'unitAmount'> & { plan: PlanPrice }>;
/** A plan change carries the tier of the current plan from the catalogue: upgrades apply now, downgrades at renewal. */
export type ChangeSubscription = Command<'ChangeSubscription', { seats: number } | { plan: PlanPrice; currentTier: number }>;
export type CancelSubscription = Command<'CancelSubscription', { atPeriodEnd: boolean }>;
export type ReactivateSubscription = Command<'ReactivateSubscription', Record<string, never>>;
/**
 * `price`: the renewing plan's price for the new year when its renewal policy moves renewals to the current
 * version (the scheduler reads it); without it the year keeps the price it had (or the pending plan's).
 */
export type RenewSubscription = Command<'RenewSubscription', { price?: Omit<PlanPrice, 'tier'> }>;
export type MarkPastDue = Command<'MarkPastDue', { invoiceId: string; dueAt: string }>;
export type MarkUnpaid = Command<'MarkUnpaid', { invoiceId: string }>;
export type RecoverSubscription = Command<'RecoverSubscription', { invoiceId: string }>;
/** The provider carried out the request: its effects happen now (a new subscription gets the provider's id). */
export type ConfirmProviderRequest = Command<'ConfirmProviderRequest', { requestId: string; providerSubscriptionId: string }>;
/** The provider refused the request (a declined card, an invalid request): nothing of it happens. */
export type FailProviderRequest = Command<'FailProviderRequest', { requestId: string; code: string; message: string }>;
export type SubscriptionCommand =
  | ConfirmProviderRequest
  | FailProviderRequest
  | SyncFromProvider
  | CreateSubscription
  | ChangeSubscription
  | CancelSubscription
  | ReactivateSubscription
  | RenewSubscription
  | MarkPastDue
  | MarkUnpaid
  | RecoverSubscription;

const live = (s: SubscriptionState): s is Subscription => s.status !== 'none' && s.status !== 'canceled';

function requireLive(state: SubscriptionState): Subscription {
  if (state.status === 'none') throw new IllegalStateError('the organization has no subscription');
  if (state.status === 'canceled') throw new IllegalStateError('the subscription is canceled; create a new one');
  if (state.providerRequest) throw new IllegalStateError('an earlier change is being carried out by the payment provider; retry in a moment');
  return state;
}

const requestIdFor = (command: Command) => deterministicUuid(`${command.metadata.commandId}:provider-request`);

/**
 * With a provider that keeps its own subscription (Stripe), what the command decided becomes a request: the
 * effects happen once the provider confirms. Stripe invoices its own prorations, so the effects carry no
 * amount of ours. With manual collection the effects are the answer.
 */
function throughProvider(s: Pick<Subscription, 'provider' | 'subscriptionId' | 'seats' | 'planId'>, requestId: string, action: ProviderRequest['action'], effects: SubscriptionEvent[], ask: Partial<Pick<ProviderRequest, 'seats' | 'planId' | 'effective' | 'atPeriodEnd'>> = {}): SubscriptionEvent[] {
  if (s.provider !== 'stripe' || effects.length === 0) return effects;
  const unbilled = effects.map((e) => ('lines' in e.data && action !== 'start' ? ({ ...e, data: { ...e.data, amount: 0, lines: [] } } as SubscriptionEvent) : e));
  const request: ProviderRequest = { subscriptionId: s.subscriptionId, requestId, action, seats: ask.seats ?? s.seats, planId: ask.planId ?? s.planId, effective: ask.effective ?? 'now', atPeriodEnd: ask.atPeriodEnd ?? null, effects: unbilled };
  return [{ type: 'billing.subscription.provider_requested', data: request }];
}

function fullYear(seats: number, plan: { unitAmount: number; name: string }, period: Period): ChargeLine[] {
  return [{ description: `${seats} × ${plan.name} (annual)`, quantity: seats, unitAmount: plan.unitAmount, amount: seats * plan.unitAmount, periodStart: period.start, periodEnd: period.end }];
}


/** What a change of seats or plan does, whoever carries it out. */
function decideChange(command: ChangeSubscription, s: Subscription, now: string): SubscriptionEvent[] {
  if (s.status !== 'active') throw new IllegalStateError(`a ${s.status} subscription cannot be changed; settle the open invoice first`);
  const base = { subscriptionId: s.subscriptionId, currency: s.currency, terms: chargeTermsOf(s) };
  const current = { unitAmount: s.unitAmount, label: s.planName };
  if ('seats' in command.data) {
    const to = command.data.seats;
    if (!Number.isInteger(to) || to < 1) throw new ValidationError('seats must be a whole number of at least 1');
    if (to > s.seats) {
      const { lines, amount } = prorationLines({ quantity: s.seats, ...current }, { quantity: to, ...current }, s.period, now);
      return [{ type: 'billing.subscription.seats_changed', data: { ...base, from: s.seats, to, effective: 'now', effectiveAt: now, amount, lines } }];
    }
    const pendingSeats = s.pending?.seats ?? s.seats;
    if (to === pendingSeats) return [];
    // A decrease (or undoing one) takes effect at renewal: seats already paid for stay until then.
    return [{ type: 'billing.subscription.seats_changed', data: { ...base, from: s.seats, to, effective: 'renewal', effectiveAt: s.period.end, amount: 0, lines: [] } }];
  }
  const plan = command.data.plan;
  if (plan.planId === (s.pending?.plan?.planId ?? s.planId)) return [];
  const change = { ...base, fromPlanId: s.planId, toPlanId: plan.planId, toPlanName: plan.name, unitAmount: plan.unitAmount, ...(plan.version ? { planVersion: plan.version } : {}), contractVersion: plan.contractVersion ?? null };
  if (plan.tier > command.data.currentTier) {
    const { lines, amount } = prorationLines({ quantity: s.seats, ...current }, { quantity: s.seats, unitAmount: plan.unitAmount, label: plan.name }, s.period, now);
    return [{ type: 'billing.subscription.plan_changed', data: { ...change, effective: 'now', effectiveAt: now, amount, lines } }];
  }
  return [{ type: 'billing.subscription.plan_changed', data: { ...change, effective: 'renewal', effectiveAt: s.period.end, amount: 0, lines: [] } }];
}

export const subscriptionDecider: Decider<SubscriptionCommand, SubscriptionEvent, SubscriptionState> = {
  initialState: () => ({ status: 'none' }),

  decide(command, state) {
    const now = command.metadata.now;
    switch (command.type) {
      case 'CreateSubscription': {
        if (live(state)) throw new IllegalStateError(`the organization already has a subscription (status ${state.status})`);
        const d = command.data;
        if (!Number.isInteger(d.seats) || d.seats < 1) throw new ValidationError('seats must be a whole number of at least 1');
        if (d.collectionMethod === 'charge_automatically' && d.provider === 'manual') {
          throw new ValidationError('charge_automatically needs a card provider (Stripe); with manual collection use send_invoice');
        }
        if (d.collectionMethod === 'send_invoice' && d.daysUntilDue === null) throw new ValidationError('send_invoice needs daysUntilDue');
        const anchor = anchorFor(now, d.timeZone);
        const period = annualPeriod(anchor, d.timeZone, 0);
        const lines = fullYear(d.seats, d.plan, period);
        const { plan, ...terms } = d;
        // A card subscription at Stripe waits for its first payment; invoiced ones are active at once.
        const awaitingPayment = d.provider === 'stripe' && d.collectionMethod === 'charge_automatically';
        const started: SubscriptionEvent = {
          type: awaitingPayment ? 'billing.subscription.created' : 'billing.subscription.activated',
          data: { ...terms, planId: plan.planId, planName: plan.name, unitAmount: plan.unitAmount, ...(plan.version ? { planVersion: plan.version } : {}), ...(awaitingPayment ? {} : { contractVersion: plan.contractVersion ?? null }), periodStart: period.start, periodEnd: period.end, amount: lines[0]!.amount, lines },
        };
        return throughProvider({ ...d, planId: plan.planId }, requestIdFor(command), 'start', [started]);
      }
      case 'ChangeSubscription': {
        const s = requireLive(state);
        const effects = decideChange(command, s, now);
        const wanted = effects[0];
        if (!wanted) return [];
        const ask = wanted.type === 'billing.subscription.seats_changed'
          ? { seats: wanted.data.to, effective: wanted.data.effective }
          : wanted.type === 'billing.subscription.plan_changed' ? { planId: wanted.data.toPlanId, effective: wanted.data.effective } : {};
        return throughProvider(s, requestIdFor(command), 'change', effects, ask);
      }
      case 'CancelSubscription': {
        const s = requireLive(state);
        const { atPeriodEnd } = command.data;
        const effects: SubscriptionEvent[] = !atPeriodEnd
          ? [{ type: 'billing.subscription.canceled', data: { subscriptionId: s.subscriptionId, canceledAt: now, reason: 'requested' } }]
          : s.cancelAtPeriodEnd ? [] : [{ type: 'billing.subscription.cancellation_scheduled', data: { subscriptionId: s.subscriptionId, cancelAt: s.period.end } }];
        return throughProvider(s, requestIdFor(command), 'cancel', effects, { atPeriodEnd });
      }
      case 'ReactivateSubscription': {
        const s = requireLive(state);
        const effects: SubscriptionEvent[] = s.cancelAtPeriodEnd ? [{ type: 'billing.subscription.cancellation_unscheduled', data: { subscriptionId: s.subscriptionId } }] : [];
        return throughProvider(s, requestIdFor(command), 'reactivate', effects);
      }
      case 'ConfirmProviderRequest': {
        if (state.status === 'none' || state.providerRequest?.requestId !== command.data.requestId) return [];
        const request = state.providerRequest;
        const { providerSubscriptionId } = command.data;
        // A new subscription learns the provider's id with its first event.
        const effects = request.effects.map((e) => (request.action === 'start' ? { ...e, data: { ...e.data, providerSubscriptionId } } : e)) as SubscriptionEvent[];
        return [...effects, { type: 'billing.subscription.provider_confirmed', data: { subscriptionId: state.subscriptionId, requestId: request.requestId, action: request.action, providerSubscriptionId } }];
      }
      case 'FailProviderRequest': {
        if (state.status === 'none' || state.providerRequest?.requestId !== command.data.requestId) return [];
        const { code, message } = command.data;
        return [{ type: 'billing.subscription.provider_failed', data: { subscriptionId: state.subscriptionId, requestId: command.data.requestId, action: state.providerRequest.action, code, message } }];
      }
      case 'RenewSubscription': {
        // A Stripe-collected subscription renews on Stripe's clock (its webhook brings the new period).
        if (!live(state) || state.status === 'incomplete' || state.status === 'pending' || state.provider !== 'manual' || Date.parse(now) < Date.parse(state.period.end)) return [];
        const s = state;
        if (s.cancelAtPeriodEnd) return [{ type: 'billing.subscription.canceled', data: { subscriptionId: s.subscriptionId, canceledAt: s.period.end, reason: 'period_end' } }];
        const seats = s.pending?.seats ?? s.seats;
        const renewing = s.pending?.plan ?? { planId: s.planId, name: s.planName, unitAmount: s.unitAmount, ...(s.planVersion ? { version: s.planVersion } : {}) };
        const repriced = command.data.price;
        const plan = repriced && repriced.planId === renewing.planId ? repriced : renewing;
        const period = annualPeriod(s.anchor, s.timeZone, s.periodIndex + 1);
        const lines = fullYear(seats, plan, period);
        return [
          {
            type: 'billing.subscription.renewed',
            data: { subscriptionId: s.subscriptionId, planId: plan.planId, planName: plan.name, seats, unitAmount: plan.unitAmount, ...(plan.version ? { planVersion: plan.version } : {}), contractVersion: plan.contractVersion ?? null, currency: s.currency, periodStart: period.start, periodEnd: period.end, amount: lines[0]!.amount, lines, terms: chargeTermsOf(s) },
          },
        ];
      }
      case 'MarkPastDue': {
        if (!live(state) || state.status !== 'active') return [];
        return [{ type: 'billing.subscription.past_due', data: { subscriptionId: state.subscriptionId, invoiceId: command.data.invoiceId, dueAt: command.data.dueAt } }];
      }
      case 'MarkUnpaid': {
        if (!live(state) || state.status !== 'past_due' || state.pastDueInvoiceId !== command.data.invoiceId) return [];
        return [{ type: 'billing.subscription.unpaid', data: { subscriptionId: state.subscriptionId, invoiceId: command.data.invoiceId } }];
      }
      case 'SyncFromProvider':
        return decideProviderSync(command, state);
      case 'RecoverSubscription': {
        if (!live(state) || state.status === 'active' || state.pastDueInvoiceId !== command.data.invoiceId) return [];
        return [{ type: 'billing.subscription.recovered', data: { subscriptionId: state.subscriptionId, invoiceId: command.data.invoiceId } }];
      }
      default: {
        const exhaustive: never = command;
        throw new Error(`unknown command ${(exhaustive as Command).type}`);
      }
    }
  },

  evolve: evolveSubscription,
};
