import { describe, expect, it } from 'vitest';
import { IllegalStateError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { subscriptionDecider, type PlanPrice, type SubscriptionCommand, type SubscriptionEvent } from './subscriptionDecider.ts';

const ORG = '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
const SUB = '8a0c1f8e-5d57-4c1e-9a4e-2a1b3c4d5e6f';
const INV = '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9';
const meta = (now: string): CommandMetadata => ({ commandId: `c-${now}`, now, organizationId: ORG });
const at = <C extends SubscriptionCommand>(now: string, type: C['type'], data: C['data']) => ({ type, data, metadata: meta(now) }) as SubscriptionCommand;

const city: PlanPrice = { planId: 'city', name: 'City', tier: 2, unitAmount: 360_000 };
const starter: PlanPrice = { planId: 'starter', name: 'Starter', tier: 1, unitAmount: 120_000 };
const enterprise: PlanPrice = { planId: 'enterprise', name: 'Enterprise', tier: 3, unitAmount: 900_000 };
const create = { subscriptionId: SUB, plan: city, seats: 3, currency: 'USD', collectionMethod: 'send_invoice' as const, daysUntilDue: 30, poNumber: 'PO-7781', timeZone: 'America/Chicago', provider: 'manual' as const, providerSubscriptionId: null };

// 2027-03-10 in Chicago (CST, UTC-6): the period runs from local midnight to local midnight a year later (CDT, UTC-5).
const start = '2027-03-10T06:00:00.000Z';
const end = '2028-03-10T06:00:00.000Z';
const activated: SubscriptionEvent = {
  type: 'billing.subscription.activated',
  data: {
    subscriptionId: SUB, planId: 'city', planName: 'City', seats: 3, currency: 'USD', unitAmount: 360_000, collectionMethod: 'send_invoice', daysUntilDue: 30, poNumber: 'PO-7781',
    timeZone: 'America/Chicago', provider: 'manual', providerSubscriptionId: null, periodStart: start, periodEnd: end, amount: 1_080_000,
    // No contract priced it: recorded as none.
    contractVersion: null,
    lines: [{ description: '3 × City (annual)', quantity: 3, unitAmount: 360_000, amount: 1_080_000, periodStart: start, periodEnd: end }],
  },
};
/** Every charge carries the terms it is invoiced on. */
const terms = { collectionMethod: 'send_invoice' as const, daysUntilDue: 30, poNumber: 'PO-7781', provider: 'manual' as const };
const spec = deciderSpec(subscriptionDecider);

describe('subscription decider', () => {
  it('activates an annual subscription anchored at local midnight, billing the full year', () => {
    spec.given([]).when(at('2027-03-10T15:30:00Z', 'CreateSubscription', create)).then([activated]);
  });

  it('refuses charge_automatically with manual collection, and a second live subscription', () => {
    spec.given([]).when(at(start, 'CreateSubscription', { ...create, collectionMethod: 'charge_automatically', daysUntilDue: null })).thenThrows(ValidationError, /send_invoice/);
    spec.given([activated]).when(at(start, 'CreateSubscription', create)).thenThrows(IllegalStateError, /already has a subscription \(status active\)/);
  });

  it('prorates a seat increase now with a credit and a charge line', () => {
    const midYear = '2027-09-08T18:00:00.000Z';
    const events = subscriptionDecider.decide(at(midYear, 'ChangeSubscription', { seats: 5 }), subscriptionDecider.evolve(subscriptionDecider.initialState(), activated));
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e.type).toBe('billing.subscription.seats_changed');
    if (e.type !== 'billing.subscription.seats_changed') return;
    expect(e.data).toMatchObject({ from: 3, to: 5, effective: 'now', effectiveAt: midYear });
    // 366-day period (2028 is a leap year through 29 Feb): 183 days and 12 h remain of 31,622,400 s.
    const remaining = (Date.parse(end) - Date.parse(midYear)) / 1000;
    expect(e.data.lines.map((l) => l.amount)).toEqual([-Math.round((1_080_000 * remaining) / 31_622_400), Math.round((1_800_000 * remaining) / 31_622_400)]);
    expect(e.data.amount).toBe(e.data.lines[0]!.amount + e.data.lines[1]!.amount);
  });

  it('defers seat decreases and downgrades to the renewal, which applies them', () => {
    const decrease: SubscriptionEvent = { type: 'billing.subscription.seats_changed', data: { subscriptionId: SUB, from: 3, to: 2, effective: 'renewal', effectiveAt: end, currency: 'USD', amount: 0, lines: [], terms } };
    spec.given([activated]).when(at('2027-05-01T00:00:00Z', 'ChangeSubscription', { seats: 2 })).then([decrease]);
    const downgrade: SubscriptionEvent = { type: 'billing.subscription.plan_changed', data: { subscriptionId: SUB, fromPlanId: 'city', toPlanId: 'starter', toPlanName: 'Starter', unitAmount: 120_000, contractVersion: null, effective: 'renewal', effectiveAt: end, currency: 'USD', amount: 0, lines: [], terms } };
    spec.given([activated, decrease]).when(at('2027-05-02T00:00:00Z', 'ChangeSubscription', { plan: starter, currentTier: 2 })).then([downgrade]);
    const nextEnd = '2029-03-10T06:00:00.000Z';
    spec.given([activated, decrease, downgrade]).when(at(end, 'RenewSubscription', {})).then([
      {
        type: 'billing.subscription.renewed',
        data: { subscriptionId: SUB, planId: 'starter', planName: 'Starter', seats: 2, unitAmount: 120_000, contractVersion: null, currency: 'USD', periodStart: end, periodEnd: nextEnd, amount: 240_000, lines: [{ description: '2 × Starter (annual)', quantity: 2, unitAmount: 120_000, amount: 240_000, periodStart: end, periodEnd: nextEnd }], terms },
      },
    ]);
  });

  it('upgrades now with proration', () => {
    const [e] = subscriptionDecider.decide(at('2027-03-10T06:00:00.000Z', 'ChangeSubscription', { plan: enterprise, currentTier: 2 }), subscriptionDecider.evolve(subscriptionDecider.initialState(), activated));
    expect(e).toMatchObject({ type: 'billing.subscription.plan_changed', data: { effective: 'now', amount: 3 * (900_000 - 360_000) } });
  });

  it('does not renew before the period ends', () => {
    spec.given([activated]).when(at('2028-03-10T05:59:59.000Z', 'RenewSubscription', {})).then([]);
  });

  it('cancels at period end, can be reactivated before, and ends at renewal', () => {
    const scheduled: SubscriptionEvent = { type: 'billing.subscription.cancellation_scheduled', data: { subscriptionId: SUB, cancelAt: end } };
    spec.given([activated]).when(at('2027-04-01T00:00:00Z', 'CancelSubscription', { atPeriodEnd: true })).then([scheduled]);
    spec.given([activated, scheduled]).when(at('2027-04-01T00:00:00Z', 'CancelSubscription', { atPeriodEnd: true })).then([]);
    spec.given([activated, scheduled]).when(at('2027-04-02T00:00:00Z', 'ReactivateSubscription', {})).then([{ type: 'billing.subscription.cancellation_unscheduled', data: { subscriptionId: SUB } }]);
    spec.given([activated, scheduled]).when(at(end, 'RenewSubscription', {})).then([{ type: 'billing.subscription.canceled', data: { subscriptionId: SUB, canceledAt: end, reason: 'period_end' } }]);
    const canceled: SubscriptionEvent = { type: 'billing.subscription.canceled', data: { subscriptionId: SUB, canceledAt: end, reason: 'period_end' } };
    spec.given([activated, scheduled, canceled]).when(at(end, 'ReactivateSubscription', {})).thenThrows(IllegalStateError, /canceled/);
  });

  it('goes past due on an overdue invoice, then unpaid, and recovers when it is paid', () => {
    const pastDue: SubscriptionEvent = { type: 'billing.subscription.past_due', data: { subscriptionId: SUB, invoiceId: INV, dueAt: '2027-04-09T06:00:00.000Z' } };
    spec.given([activated]).when(at('2027-04-10T00:00:00Z', 'MarkPastDue', { invoiceId: INV, dueAt: '2027-04-09T06:00:00.000Z' })).then([pastDue]);
    spec.given([activated, pastDue]).when(at('2027-04-10T00:00:00Z', 'ChangeSubscription', { seats: 9 })).thenThrows(IllegalStateError, /past_due/);
    const unpaid: SubscriptionEvent = { type: 'billing.subscription.unpaid', data: { subscriptionId: SUB, invoiceId: INV } };
    spec.given([activated, pastDue]).when(at('2027-05-10T00:00:00Z', 'MarkUnpaid', { invoiceId: INV })).then([unpaid]);
    spec.given([activated, pastDue, unpaid]).when(at('2027-05-11T00:00:00Z', 'RecoverSubscription', { invoiceId: INV })).then([{ type: 'billing.subscription.recovered', data: { subscriptionId: SUB, invoiceId: INV } }]);
  });

  it('waits for the first card payment at Stripe: incomplete, then active with Stripe\'s period; stale syncs change nothing', () => {
    const card = { ...create, collectionMethod: 'charge_automatically' as const, daysUntilDue: null, provider: 'stripe' as const, providerSubscriptionId: null };
    // Asked of Stripe first (the outbox calls it), confirmed with Stripe's id.
    const [requested] = subscriptionDecider.decide(at('2027-03-10T15:30:00Z', 'CreateSubscription', card), subscriptionDecider.initialState());
    expect(requested).toMatchObject({ type: 'billing.subscription.provider_requested', data: { action: 'start', seats: 3, planId: 'city', effects: [{ type: 'billing.subscription.created' }] } });
    const pending = subscriptionDecider.evolve(subscriptionDecider.initialState(), requested!);
    expect(pending).toMatchObject({ status: 'pending', providerSubscriptionId: null });
    const requestId = (requested!.data as { requestId: string }).requestId;
    const [created, confirmed] = subscriptionDecider.decide(at('2027-03-10T15:30:01Z', 'ConfirmProviderRequest', { requestId, providerSubscriptionId: 'sub_123' }), pending);
    expect(created).toMatchObject({ type: 'billing.subscription.created', data: { providerSubscriptionId: 'sub_123', collectionMethod: 'charge_automatically' } });
    expect(confirmed).toMatchObject({ type: 'billing.subscription.provider_confirmed', data: { requestId, action: 'start', providerSubscriptionId: 'sub_123' } });
    expect(subscriptionDecider.decide(at('2027-03-10T15:30:02Z', 'ConfirmProviderRequest', { requestId, providerSubscriptionId: 'sub_123' }), [requested!, created!, confirmed!].reduce(subscriptionDecider.evolve, subscriptionDecider.initialState()))).toEqual([]);
    const incomplete = subscriptionDecider.evolve(subscriptionDecider.initialState(), created!);
    expect(incomplete.status).toBe('incomplete');
    spec.given([created!]).when(at('2027-03-11T00:00:00Z', 'ChangeSubscription', { seats: 4 })).thenThrows(IllegalStateError, /incomplete/);
    spec.given([created!]).when(at('2028-03-11T00:00:00Z', 'RenewSubscription', {})).then([]);
    const ranks = { awaiting_first_payment: 0, active: 2, past_due: 3, unpaid: 4, ended: 5 } as const;
    const sync = (created: number, status: keyof typeof ranks) =>
      at('2027-03-10T16:00:00Z', 'SyncFromProvider', {
        providerEventId: `evt_${created}`, created, providerSubscriptionId: 'sub_123', status, statusRank: ranks[status], providerStatus: status, seats: 3, plan: { planId: 'city', name: 'City', unitAmount: 360_000 },
        cancelAtPeriodEnd: false, period: { start: '2027-03-10T16:00:00.000Z', end: '2028-03-10T16:00:00.000Z' }, latestInvoiceId: 'in_1',
      });
    const events = subscriptionDecider.decide(sync(100, 'active'), incomplete);
    expect(events.map((e) => e.type)).toEqual(['billing.subscription.activated', 'billing.subscription.provider_synced']);
    expect(events[0]).toMatchObject({ data: { periodStart: '2027-03-10T16:00:00.000Z', amount: 1_080_000, provider: 'stripe', poNumber: 'PO-7781' } });
    const active = events.reduce(subscriptionDecider.evolve, incomplete);
    expect(active.status).toBe('active');
    expect(subscriptionDecider.decide(sync(99, 'awaiting_first_payment'), active)).toEqual([]);
    expect(subscriptionDecider.decide(sync(50, 'ended'), incomplete).map((e) => e.type)).toEqual(['billing.subscription.canceled', 'billing.subscription.provider_synced']);
  });

  describe('with Stripe, changes go through the provider outbox', () => {
    const stripeActive: SubscriptionEvent = { ...activated, data: { ...activated.data, provider: 'stripe', providerSubscriptionId: 'sub_9' } } as SubscriptionEvent;
    const requestOf = (events: SubscriptionEvent[]) => (events[0]!.data as { requestId: string }).requestId;

    it('asks for a seat increase and applies it once Stripe confirms, with no amount of ours (Stripe invoices it)', () => {
      const asked = subscriptionDecider.decide(at('2027-09-08T18:00:00Z', 'ChangeSubscription', { seats: 5 }), subscriptionDecider.evolve(subscriptionDecider.initialState(), stripeActive));
      expect(asked).toMatchObject([{ type: 'billing.subscription.provider_requested', data: { action: 'change', seats: 5, effective: 'now', effects: [{ type: 'billing.subscription.seats_changed', data: { to: 5, amount: 0, lines: [] } }] } }]);
      spec.given([stripeActive, ...asked]).when(at('2027-09-08T18:00:01Z', 'ChangeSubscription', { seats: 6 })).thenThrows(IllegalStateError, /being carried out by the payment provider/);
      const done = subscriptionDecider.decide(at('2027-09-08T18:00:02Z', 'ConfirmProviderRequest', { requestId: requestOf(asked), providerSubscriptionId: 'sub_9' }), [stripeActive, ...asked].reduce(subscriptionDecider.evolve, subscriptionDecider.initialState()));
      expect(done.map((e) => e.type)).toEqual(['billing.subscription.seats_changed', 'billing.subscription.provider_confirmed']);
      const after = [stripeActive, ...asked, ...done].reduce(subscriptionDecider.evolve, subscriptionDecider.initialState());
      expect(after).toMatchObject({ seats: 5, providerRequest: null });
    });

    it('asks for a decrease at the period end; a refusal changes nothing', () => {
      const asked = subscriptionDecider.decide(at('2027-09-08T18:00:00Z', 'ChangeSubscription', { seats: 2 }), subscriptionDecider.evolve(subscriptionDecider.initialState(), stripeActive));
      expect(asked).toMatchObject([{ data: { action: 'change', seats: 2, effective: 'renewal' } }]);
      const failed = subscriptionDecider.decide(at('2027-09-08T18:00:01Z', 'FailProviderRequest', { requestId: requestOf(asked), code: 'invalid_request', message: 'no' }), [stripeActive, ...asked].reduce(subscriptionDecider.evolve, subscriptionDecider.initialState()));
      expect(failed).toMatchObject([{ type: 'billing.subscription.provider_failed', data: { action: 'change', code: 'invalid_request' } }]);
      expect([stripeActive, ...asked, ...failed].reduce(subscriptionDecider.evolve, subscriptionDecider.initialState())).toMatchObject({ seats: 3, pending: null, providerRequest: null });
    });

    it('forgets a subscription Stripe refused to start, and leaves renewals to Stripe', () => {
      const stripeCreate = { ...create, provider: 'stripe' as const };
      const asked = subscriptionDecider.decide(at(start, 'CreateSubscription', stripeCreate), subscriptionDecider.initialState());
      const failed = subscriptionDecider.decide(at(start, 'FailProviderRequest', { requestId: requestOf(asked), code: 'card_declined', message: 'declined' }), subscriptionDecider.evolve(subscriptionDecider.initialState(), asked[0]!));
      expect([...asked, ...failed].reduce(subscriptionDecider.evolve, subscriptionDecider.initialState())).toEqual({ status: 'none' });
      spec.given([stripeActive]).when(at('2028-03-10T06:00:00Z', 'RenewSubscription', {})).then([]);
    });
  });
});
