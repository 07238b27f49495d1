import { deterministicUuid, type Command } from '@curbmap/eventsourcing';
import type { Period } from './billingPeriod.ts';
import type { SubscriptionEvent, SubscriptionState } from './subscriptionDecider.ts';

/** A Stripe subscription as one webhook (or a re-fetch) saw it. */
export type SyncFromStripe = Command<
  'SyncFromStripe',
  {
    stripeEventId: string;
    /** The Stripe event's `created` (seconds): older than what was applied means stale. */
    created: number;
    providerSubscriptionId: string;
    status: string;
    seats: number;
    plan: { planId: string; name: string; unitAmount: number };
    cancelAtPeriodEnd: boolean;
    period: Period;
    latestInvoiceId: string | null;
  }
>;

// A later status in a subscription's life ranks higher; within one second, a lower rank is the older event.
const ranks: Record<string, number> = { incomplete: 0, trialing: 1, active: 2, past_due: 3, unpaid: 4, paused: 4, canceled: 5, incomplete_expired: 5 };
export const stripeStatusRank = (status: string) => ranks[status] ?? 0;

/**
 * Stripe is the source of truth for a Stripe-collected subscription: turn what it says into our events.
 * Deliveries come at least once and in any order, so an event older than the last one applied changes nothing.
 */
export function decideStripeSync(command: SyncFromStripe, state: SubscriptionState): SubscriptionEvent[] {
  if (state.status === 'none' || state.providerSubscriptionId !== command.data.providerSubscriptionId) return [];
  const d = command.data;
  const rank = stripeStatusRank(d.status);
  if (state.providerSyncedAt !== null && (d.created < state.providerSyncedAt || (d.created === state.providerSyncedAt && rank < state.providerStatusRank))) return [];
  if (state.status === 'canceled') return [];
  const base = { subscriptionId: state.subscriptionId };
  const synced: SubscriptionEvent = { type: 'billing.subscription.provider_synced', data: { ...base, stripeEventId: d.stripeEventId, created: d.created, status: d.status } };
  const now = command.metadata.now;
  if (state.status === 'incomplete') {
    // Stripe has taken the first payment (or given up): the subscription starts, with Stripe's period.
    if (d.status === 'active' || d.status === 'trialing') {
      const { subscriptionId, currency, timeZone, collectionMethod, daysUntilDue, poNumber, provider, providerSubscriptionId } = state;
      const amount = d.seats * d.plan.unitAmount;
      return [
        {
          type: 'billing.subscription.activated',
          data: {
            subscriptionId, planId: d.plan.planId, planName: d.plan.name, seats: d.seats, currency, unitAmount: d.plan.unitAmount, collectionMethod, daysUntilDue, poNumber, timeZone,
            provider, providerSubscriptionId, periodStart: d.period.start, periodEnd: d.period.end, amount, lines: [],
          },
        },
        synced,
      ];
    }
    if (d.status === 'incomplete_expired' || d.status === 'canceled') return [{ type: 'billing.subscription.canceled', data: { ...base, canceledAt: now, reason: 'provider' } }, synced];
    return [synced];
  }
  const out: SubscriptionEvent[] = [];
  if (Date.parse(d.period.start) > Date.parse(state.period.start)) {
    const amount = d.seats * d.plan.unitAmount;
    out.push({
      type: 'billing.subscription.renewed',
      data: { ...base, planId: d.plan.planId, planName: d.plan.name, seats: d.seats, unitAmount: d.plan.unitAmount, currency: state.currency, periodStart: d.period.start, periodEnd: d.period.end, amount, lines: [] },
    });
  } else {
    // Stripe invoices its own prorations: our events record the change with no amount of their own.
    if (d.seats !== state.seats) out.push({ type: 'billing.subscription.seats_changed', data: { ...base, from: state.seats, to: d.seats, effective: 'now', effectiveAt: now, currency: state.currency, amount: 0, lines: [] } });
    if (d.plan.planId !== state.planId) {
      out.push({ type: 'billing.subscription.plan_changed', data: { ...base, fromPlanId: state.planId, toPlanId: d.plan.planId, toPlanName: d.plan.name, unitAmount: d.plan.unitAmount, effective: 'now', effectiveAt: now, currency: state.currency, amount: 0, lines: [] } });
    }
  }
  if (d.cancelAtPeriodEnd !== state.cancelAtPeriodEnd && d.status !== 'canceled') {
    out.push(d.cancelAtPeriodEnd ? { type: 'billing.subscription.cancellation_scheduled', data: { ...base, cancelAt: d.period.end } } : { type: 'billing.subscription.cancellation_unscheduled', data: base });
  }
  const invoiceId = deterministicUuid(`stripe-invoice:${d.latestInvoiceId ?? d.providerSubscriptionId}`);
  if ((d.status === 'canceled' || d.status === 'incomplete_expired') && state.status !== ('canceled' as string)) {
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
