import type { BillingEvent, ChargeTerms, PaymentProviderKind, ProviderRequest, SubscriptionTerms } from '@curbmap/contracts';
import type { Period } from './billingPeriod.ts';

/** An organization's annual subscription: its events, its state, and how events fold into it. */
export const subscriptionStream = (organizationId: string) => `subscription-${organizationId}`;

type Event<T extends BillingEvent['type']> = Extract<BillingEvent, { type: T }>;
export type SubscriptionEvent = Event<
  | 'billing.subscription.activated'
  | 'billing.subscription.created'
  | 'billing.subscription.seats_changed'
  | 'billing.subscription.plan_changed'
  | 'billing.subscription.renewed'
  | 'billing.subscription.cancellation_scheduled'
  | 'billing.subscription.cancellation_unscheduled'
  | 'billing.subscription.canceled'
  | 'billing.subscription.past_due'
  | 'billing.subscription.recovered'
  | 'billing.subscription.unpaid'
  | 'billing.subscription.provider_synced'
  | 'billing.subscription.provider_requested'
  | 'billing.subscription.provider_confirmed'
  | 'billing.subscription.provider_failed'
>;

export interface PlanPrice {
  planId: string;
  name: string;
  tier: number;
  /** Per seat per year in the subscription's currency. */
  unitAmount: number;
  /** The plan's price version this price is from (absent: sold before price versions). */
  version?: number;
  /** The negotiated contract's version that priced it (absent: none governs the year); recorded on the year's event. */
  contractVersion?: number;
}

/** `pending`: asked of the provider (Stripe), not confirmed yet; `incomplete`: waiting for the first card payment. */
export type SubscriptionStatus = 'pending' | 'incomplete' | 'active' | 'past_due' | 'canceled' | 'unpaid';

export interface Subscription {
  status: SubscriptionStatus;
  subscriptionId: string;
  planId: string;
  planName: string;
  seats: number;
  unitAmount: number;
  /** The plan's price version the current year was sold at (absent: sold before price versions). */
  planVersion?: number;
  currency: string;
  timeZone: string;
  collectionMethod: SubscriptionTerms['collectionMethod'];
  daysUntilDue: number | null;
  poNumber: string | null;
  anchor: string;
  periodIndex: number;
  period: Period;
  cancelAtPeriodEnd: boolean;
  /** A downgrade or seat decrease waiting for the renewal. */
  pending: { seats?: number; plan?: Omit<PlanPrice, 'tier'> } | null;
  pastDueInvoiceId: string | null;
  provider: PaymentProviderKind;
  providerSubscriptionId: string | null;
  /** Ordering guard for the provider's events: `created` and status rank of the last one applied. */
  providerSyncedAt: number | null;
  providerStatusRank: number;
  /** A change sent to the provider and not yet answered: one at a time. */
  providerRequest: ProviderRequest | null;
}

export type SubscriptionState = { status: 'none' } | Subscription;

/** The terms a charge of this subscription is invoiced on, carried by the charge event itself. */
export function chargeTermsOf(s: Pick<Subscription, 'collectionMethod' | 'daysUntilDue' | 'poNumber' | 'provider'>): ChargeTerms {
  return { collectionMethod: s.collectionMethod, daysUntilDue: s.daysUntilDue, poNumber: s.poNumber, provider: s.provider };
}

export function evolveSubscription(state: SubscriptionState, event: SubscriptionEvent): SubscriptionState {
  if (event.type === 'billing.subscription.provider_requested' && event.data.action === 'start') {
    // Terms and period of the subscription asked for, waiting for the provider.
    const started = evolveSubscription({ status: 'none' }, event.data.effects[0] as SubscriptionEvent) as Subscription;
    return { ...started, status: 'pending', providerRequest: event.data };
  }
  if (event.type === 'billing.subscription.activated' || event.type === 'billing.subscription.created') {
    const d = event.data;
    return {
      status: event.type === 'billing.subscription.created' ? 'incomplete' : 'active',
      subscriptionId: d.subscriptionId,
      planId: d.planId,
      planName: d.planName,
      seats: d.seats,
      unitAmount: d.unitAmount,
      ...(d.planVersion ? { planVersion: d.planVersion } : {}),
      currency: d.currency,
      timeZone: d.timeZone,
      collectionMethod: d.collectionMethod,
      daysUntilDue: d.daysUntilDue,
      poNumber: d.poNumber,
      anchor: d.periodStart,
      periodIndex: 0,
      period: { start: d.periodStart, end: d.periodEnd },
      cancelAtPeriodEnd: false,
      pending: null,
      pastDueInvoiceId: null,
      provider: d.provider,
      providerSubscriptionId: d.providerSubscriptionId,
      providerSyncedAt: null,
      providerStatusRank: 0,
      providerRequest: null,
    };
  }
  if (state.status === 'none') return state;
  switch (event.type) {
    case 'billing.subscription.seats_changed': {
      if (event.data.effective === 'now') return { ...state, seats: event.data.to, pending: state.pending?.plan ? { plan: state.pending.plan } : null };
      const { seats: _dropped, ...rest } = state.pending ?? {};
      return { ...state, pending: event.data.to === state.seats ? (rest.plan ? rest : null) : { ...rest, seats: event.data.to } };
    }
    case 'billing.subscription.plan_changed': {
      const plan = { planId: event.data.toPlanId, name: event.data.toPlanName, unitAmount: event.data.unitAmount, ...(event.data.planVersion ? { version: event.data.planVersion } : {}) };
      if (event.data.effective === 'now') {
        const { planVersion: _previous, ...rest } = state;
        return { ...rest, planId: plan.planId, planName: plan.name, unitAmount: plan.unitAmount, ...(plan.version ? { planVersion: plan.version } : {}), pending: state.pending?.seats ? { seats: state.pending.seats } : null };
      }
      return { ...state, pending: event.data.toPlanId === state.planId ? (state.pending?.seats ? { seats: state.pending.seats } : null) : { ...state.pending, plan } };
    }
    case 'billing.subscription.renewed':
    {
      const { planVersion: _previous, ...rest } = state;
      return { ...rest, planId: event.data.planId, planName: event.data.planName, seats: event.data.seats, unitAmount: event.data.unitAmount, ...(event.data.planVersion ? { planVersion: event.data.planVersion } : {}), periodIndex: state.periodIndex + 1, period: { start: event.data.periodStart, end: event.data.periodEnd }, pending: null };
    }
    case 'billing.subscription.cancellation_scheduled':
      return { ...state, cancelAtPeriodEnd: true };
    case 'billing.subscription.cancellation_unscheduled':
      return { ...state, cancelAtPeriodEnd: false };
    case 'billing.subscription.canceled':
      return { ...state, status: 'canceled' };
    case 'billing.subscription.past_due':
      return { ...state, status: 'past_due', pastDueInvoiceId: event.data.invoiceId };
    case 'billing.subscription.unpaid':
      return { ...state, status: 'unpaid' };
    case 'billing.subscription.recovered':
      return { ...state, status: 'active', pastDueInvoiceId: null };
    case 'billing.subscription.provider_synced':
      return { ...state, providerSyncedAt: event.data.created, providerStatusRank: event.data.statusRank };
    case 'billing.subscription.provider_requested':
      return { ...state, providerRequest: event.data };
    case 'billing.subscription.provider_confirmed': {
      // At the provider, a change made now or a reactivation releases the schedule that held a renewal change.
      const request = state.providerRequest;
      const dropsPending = request?.action === 'reactivate' || (request?.action === 'change' && request.effective === 'now');
      return { ...state, providerRequest: null, providerSubscriptionId: event.data.providerSubscriptionId, pending: dropsPending ? null : state.pending };
    }
    case 'billing.subscription.provider_failed':
      // A subscription the provider refused to start never existed.
      return event.data.action === 'start' ? { status: 'none' } : { ...state, providerRequest: null };
    default: {
      const exhaustive: never = event;
      return exhaustive;
    }
  }
}
