import { deterministicUuid, type Command } from '@curbmap/eventsourcing';
import type { Period } from './billingPeriod.ts';
import { chargeTermsOf, type SubscriptionEvent, type SubscriptionState } from './subscription.ts';

/**
 * What the provider's subscription is, in our words (the application translates the provider's own):
 * `awaiting_first_payment` (Stripe: incomplete), `active` (active, trialing), `past_due`, `unpaid` (unpaid,
 * paused), `ended` (canceled, incomplete_expired).
 */
export type ProviderSubscriptionStatus = 'awaiting_first_payment' | 'active' | 'past_due' | 'unpaid' | 'ended';

/** A provider's subscription as one of its events (or a re-fetch) saw it. */
export type SyncFromProvider = Command<
  'SyncFromProvider',
  {
    providerEventId: string;
    /** The provider event's `created` (seconds): older than what was applied means stale. */
    created: number;
    providerSubscriptionId: string;
    status: ProviderSubscriptionStatus;
    /** Orders two events of the same second: a later status in a subscription's life ranks higher. */
    statusRank: number;
    /** The provider's own word for the status, recorded as seen. */
    providerStatus: string;
    seats: number;
    plan: { planId: string; name: string; unitAmount: number };
    cancelAtPeriodEnd: boolean;
    period: Period;
    latestInvoiceId: string | null;
  }
>;

/**
 * The provider is the source of truth for a subscription it collects: turn what it says into our events.
 * Deliveries come at least once and in any order, so an event older than the last one applied changes nothing.
 */
export function decideProviderSync(command: SyncFromProvider, state: SubscriptionState): SubscriptionEvent[] {
  if (state.status === 'none' || state.providerSubscriptionId !== command.data.providerSubscriptionId) return [];
  const d = command.data;
  if (state.providerSyncedAt !== null && (d.created < state.providerSyncedAt || (d.created === state.providerSyncedAt && d.statusRank < state.providerStatusRank))) return [];
  if (state.status === 'canceled') return [];
  const base = { subscriptionId: state.subscriptionId };
  const terms = chargeTermsOf(state);
  const synced: SubscriptionEvent = { type: 'billing.subscription.provider_synced', data: { ...base, stripeEventId: d.providerEventId, created: d.created, status: d.providerStatus, statusRank: d.statusRank } };
  const now = command.metadata.now;
  if (state.status === 'incomplete') {
    // The provider has taken the first payment (or given up): the subscription starts, with the provider's period.
    if (d.status === 'active') {
      const { subscriptionId, currency, timeZone, collectionMethod, daysUntilDue, poNumber, provider, providerSubscriptionId } = state;
      const amount = d.seats * d.plan.unitAmount;
      return [
        {
          type: 'billing.subscription.activated',
          data: {
            subscriptionId, planId: d.plan.planId, planName: d.plan.name, seats: d.seats, currency, unitAmount: d.plan.unitAmount, ...sameVersion(state, d.plan), collectionMethod, daysUntilDue, poNumber, timeZone,
            provider, providerSubscriptionId, periodStart: d.period.start, periodEnd: d.period.end, amount, lines: [],
          },
        },
        synced,
      ];
    }
    if (d.status === 'ended') return [{ type: 'billing.subscription.canceled', data: { ...base, canceledAt: now, reason: 'provider' } }, synced];
    return [synced];
  }
  const out: SubscriptionEvent[] = [];
  if (Date.parse(d.period.start) > Date.parse(state.period.start)) {
    const amount = d.seats * d.plan.unitAmount;
    out.push({
      type: 'billing.subscription.renewed',
      data: { ...base, planId: d.plan.planId, planName: d.plan.name, seats: d.seats, unitAmount: d.plan.unitAmount, ...sameVersion(state, d.plan), currency: state.currency, periodStart: d.period.start, periodEnd: d.period.end, amount, lines: [], terms },
    });
  } else {
    // The provider invoices its own prorations: our events record the change with no amount of their own.
    if (d.seats !== state.seats) out.push({ type: 'billing.subscription.seats_changed', data: { ...base, from: state.seats, to: d.seats, effective: 'now', effectiveAt: now, currency: state.currency, amount: 0, lines: [], terms } });
    if (d.plan.planId !== state.planId) {
      out.push({ type: 'billing.subscription.plan_changed', data: { ...base, fromPlanId: state.planId, toPlanId: d.plan.planId, toPlanName: d.plan.name, unitAmount: d.plan.unitAmount, effective: 'now', effectiveAt: now, currency: state.currency, amount: 0, lines: [], terms } });
    }
  }
  if (d.cancelAtPeriodEnd !== state.cancelAtPeriodEnd && d.status !== 'ended') {
    out.push(d.cancelAtPeriodEnd ? { type: 'billing.subscription.cancellation_scheduled', data: { ...base, cancelAt: d.period.end } } : { type: 'billing.subscription.cancellation_unscheduled', data: base });
  }
  const invoiceId = deterministicUuid(`stripe-invoice:${d.latestInvoiceId ?? d.providerSubscriptionId}`);
  if (d.status === 'ended') {
    out.push({ type: 'billing.subscription.canceled', data: { ...base, canceledAt: now, reason: 'provider' } });
  } else if (d.status === 'past_due' && state.status === 'active') {
    out.push({ type: 'billing.subscription.past_due', data: { ...base, invoiceId, dueAt: now } });
  } else if (d.status === 'unpaid' && state.status !== 'unpaid') {
    if (state.status === 'active') out.push({ type: 'billing.subscription.past_due', data: { ...base, invoiceId, dueAt: now } });
    out.push({ type: 'billing.subscription.unpaid', data: { ...base, invoiceId: state.pastDueInvoiceId ?? invoiceId } });
  } else if (d.status === 'active' && (state.status === 'past_due' || state.status === 'unpaid')) {
    out.push({ type: 'billing.subscription.recovered', data: { ...base, invoiceId: state.pastDueInvoiceId ?? invoiceId } });
  }
  out.push(synced);
  return out;
}

/**
 * Stripe bills the plan and price we sold: the version the subscription records stays, or the waiting plan's when
 * Stripe renews into it (another plan or price: unknown, none recorded).
 */
function sameVersion(state: { planId: string; unitAmount: number; planVersion?: number; pending: { plan?: { planId: string; unitAmount: number; version?: number } } | null }, plan: { planId: string; unitAmount: number }): { planVersion?: number } {
  if (state.planVersion && plan.planId === state.planId && plan.unitAmount === state.unitAmount) return { planVersion: state.planVersion };
  const waiting = state.pending?.plan;
  return waiting?.version && plan.planId === waiting.planId && plan.unitAmount === waiting.unitAmount ? { planVersion: waiting.version } : {};
}
