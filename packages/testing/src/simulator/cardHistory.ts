import { simPlans } from './catalog.ts';
import type { Driver } from './driver.ts';
import type { SimPlatform } from './platform.ts';
import type { Random } from './random.ts';
import type { SimOrganization } from './simulation.ts';
import { SimStripe, type DeliveryOrder } from './stripe.ts';

type Obj = Record<string, any>;

/** What the simulation knows of an organization that pays by card through Stripe. */
export interface CardState {
  subscription: string | null;
  cancelAtPeriodEnd: boolean;
}

export interface CardContext {
  driver: Driver;
  platform: SimPlatform;
  stripe: SimStripe;
  now: () => number;
  random: () => Random;
  expect: (cond: boolean, what: string) => void;
}

/** Operations of a card history, and how often each comes. */
export const cardOperations: [string, number][] = [
  ['advance', 24],
  ['subscribe', 8],
  ['change', 18],
  ['cancel', 5],
  ['refund', 7],
  ['redeliver', 4],
];

const done = (res: { status: number }, status: number) => res.status === status || res.status === 202;

/**
 * Card histories: organizations subscribe by card (Stripe collects), change seats and plans, cancel and
 * reactivate, and the operator refunds; Stripe (the simulation's) invoices, charges and renews on the simulated
 * clock and tells the platform through signed webhooks, in its own order, shuffled, or some twice.
 */
export class CardHistory {
  private readonly delivered: Obj[] = [];
  private readonly ctx: CardContext;
  constructor(ctx: CardContext) {
    this.ctx = ctx;
  }

  private get random(): Random {
    return this.ctx.random();
  }

  /** Stripe's webhooks, signed, to the platform (whichever process serves it now), as Stripe retries: until 2xx. */
  async deliver(events: Obj[]): Promise<void> {
    const order = this.random.weighted<DeliveryOrder>([['stripe', 5], ['shuffled', 3], ['duplicated', 2]]);
    const arranged = SimStripe.arrange(events, order, this.random);
    if (events.length) this.ctx.driver.trace.push({ step: this.ctx.driver.step, who: 'stripe', line: `webhooks (${order}): ${arranged.map((e) => e.type).join(', ')}` });
    for (const event of arranged) {
      const payload = JSON.stringify(event);
      let status = 0;
      for (const until = Date.now() + 90_000; Date.now() < until; ) {
        try {
          const res = await fetch(new URL('/webhooks/stripe', this.ctx.platform.url()), { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': SimStripe.signature(payload) }, body: payload, signal: AbortSignal.timeout(60_000) });
          status = res.status;
          const text = await res.text();
          if (status < 500) {
            this.ctx.expect(status === 200, `Stripe's ${event.type} ${event.id}: answered ${status} ${text.slice(0, 200)}`);
            break;
          }
          if (status !== 503) this.ctx.driver.violation('6 no 5xx', `POST /webhooks/stripe (${event.type}) answered ${status}: ${text.slice(0, 300)}`);
        } catch {
          // The process died under the delivery: Stripe sends it again.
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      if (status === 0 || status >= 500) throw new Error(`Stripe's ${event.type} ${event.id}: not taken in 90 s (last answer ${status || 'none'})`);
    }
    this.delivered.push(...events);
  }

  async perform(op: string, org: SimOrganization): Promise<void> {
    const state = org.card!;
    const { driver, stripe } = this.ctx;
    const now = this.ctx.now();
    const sub = state.subscription ? stripe.subscription(state.subscription) : null;
    const live = sub !== null && sub['status'] !== 'canceled';
    if (op === 'subscribe' && live) op = 'change';
    if ((op === 'change' || op === 'cancel') && !live) op = 'subscribe';
    switch (op) {
      case 'subscribe': {
        const planId = this.random.pick(simPlans).id;
        const seats = this.random.int(1, 12);
        const res = await driver.call('POST', '/v1/subscription', org.apiKey, { planId, seats, collectionMethod: 'charge_automatically' });
        this.ctx.expect(done(res, 201), `subscribe by card ${planId}×${seats}: ${res.status} ${res.text.slice(0, 200)}`);
        if (!done(res, 201)) return;
        await driver.quiet();
        const made = (await driver.call('GET', '/v1/subscription', org.apiKey)).body;
        const id = made?.providerSubscriptionId as string | undefined;
        this.ctx.expect(Boolean(id) && made.status === 'incomplete', `a card subscription starts incomplete at Stripe: ${JSON.stringify(made).slice(0, 300)}`);
        if (!id) return;
        state.subscription = id;
        state.cancelAtPeriodEnd = false;
        stripe.started(id, now);
        // The customer confirms the first payment (Stripe.js); a card is declined now and then, then paid.
        const s = stripe.subscription(id);
        const item = stripe.item(s);
        const unit = Number(item['price']['unit_amount']);
        const created = stripe.subscriptionEvent(s, now, 'customer.subscription.created');
        const charge = stripe.invoice(s, 'subscription_create', [{ amount: unit * seats, quantity: seats, unitAmount: unit, description: `${planId} × ${seats}`, start: item['current_period_start'], end: item['current_period_end'] }], now, this.declines());
        const events = stripe.invoiceEvents(charge, now);
        s['status'] = 'active';
        await this.deliver([created, ...events, stripe.subscriptionEvent(s, now)]);
        return;
      }
      case 'change': {
        const current = await driver.call('GET', '/v1/subscription', org.apiKey);
        if (current.status !== 200 || current.body.status !== 'active') return;
        const item = stripe.item(sub!);
        const before = { unitAmount: Number(item['price']['unit_amount']), quantity: Number(item['quantity']) };
        const change = this.random.chance(0.3) ? { planId: this.random.pick(simPlans.filter((p) => p.id !== current.body.planId)).id } : { seats: Math.max(1, current.body.seats + this.random.pick([-3, -1, 1, 2, 5])) };
        if ('seats' in change && change.seats === current.body.seats) return;
        const res = await driver.call('PATCH', '/v1/subscription', org.apiKey, change);
        this.ctx.expect(done(res, 200), `change ${JSON.stringify(change)} of a card subscription: ${res.status} ${res.text.slice(0, 200)}`);
        if (!done(res, 200)) return;
        // The platform tells Stripe (its outbox): a change now is invoiced at once, one at the renewal waits in a schedule.
        await driver.quiet();
        const proration = stripe.prorate(sub!, before, now, this.declines());
        if (proration) await this.deliver([stripe.subscriptionEvent(sub!, now), ...stripe.invoiceEvents(proration, now)]);
        return;
      }
      case 'cancel': {
        const res = state.cancelAtPeriodEnd ? await driver.call('POST', '/v1/subscription/reactivate', org.apiKey, {}) : await driver.call('POST', '/v1/subscription/cancel', org.apiKey, { atPeriodEnd: true });
        this.ctx.expect(done(res, 200), `${state.cancelAtPeriodEnd ? 'reactivate' : 'cancel at period end'} a card subscription: ${res.status} ${res.text.slice(0, 200)}`);
        if (!done(res, 200)) return;
        state.cancelAtPeriodEnd = !state.cancelAtPeriodEnd;
        await driver.quiet();
        await this.deliver([stripe.subscriptionEvent(sub!, now)]);
        return;
      }
      case 'refund': {
        const refundable = stripe.charges.filter((c) => c.organizationId === org.id && c.paid && c.total > c.refunded);
        if (!refundable.length) return;
        const charge = this.random.pick(refundable);
        const body: Record<string, unknown> = {};
        if (this.random.chance(0.6)) body['amount'] = this.random.int(1, charge.total - charge.refunded);
        const res = await driver.call('POST', `/v1/admin/payments/${charge.intent}/refunds`, 'admin', body);
        this.ctx.expect(done(res, 202), `refund ${JSON.stringify(body)} of card payment ${charge.intent} (${charge.total - charge.refunded} refundable): ${res.status} ${res.text.slice(0, 200)}`);
        // What the operator asked to return (all that is left, without an amount): Stripe must refund that, once.
        if (done(res, 202)) charge.asked += (body['amount'] as number | undefined) ?? charge.total - charge.refunded;
        await driver.quiet();
        await this.deliver(stripe.refundEvents(now));
        return;
      }
      case 'redeliver': {
        // Stripe sends an event again, days later (its retries, a reconciliation): nothing may change.
        const mine = this.delivered.filter((e) => JSON.stringify(e.data.object).includes(org.id) || stripe.charges.some((c) => c.organizationId === org.id && JSON.stringify(e.data.object).includes(c.id)));
        if (mine.length) await this.deliver(this.random.shuffle(mine).slice(0, 3));
        return;
      }
      default:
        throw new Error(`unknown card operation ${op}`);
    }
  }

  /**
   * After the clock moved: Stripe's renewals and ends that came due, delivered. Each must be what the customer
   * asked: a subscription ends exactly when it was canceled at its period's end (checked here, as it happens: the
   * customer may subscribe again later).
   */
  async renewals(orgs: SimOrganization[]): Promise<void> {
    const { stripe, driver } = this.ctx;
    const before = new Map(orgs.filter((o) => o.card?.subscription).map((o) => {
      const sub = stripe.subscription(o.card!.subscription!);
      return [o, { status: sub['status'], end: stripe.item(sub)['current_period_end'] }] as const;
    }));
    await this.deliver(stripe.renew(this.ctx.now(), () => this.declines()));
    for (const [org, was] of before) {
      if (was.status === 'canceled') continue;
      const sub = stripe.subscription(org.card!.subscription!);
      const ended = sub['status'] === 'canceled';
      const renewed = !ended && stripe.item(sub)['current_period_end'] !== was.end;
      if (ended && !org.card!.cancelAtPeriodEnd) driver.violation('model subscription', `${org.model.name}: Stripe ended ${sub['id']}, which the customer had not canceled (or had reactivated)`);
      if (renewed && org.card!.cancelAtPeriodEnd) driver.violation('model subscription', `${org.model.name}: Stripe renewed ${sub['id']}, which the customer had canceled at its period's end`);
    }
  }

  /** Declined attempts before the one that pays: mostly none. */
  private declines(): number {
    return this.random.weighted<number>([[0, 8], [1, 2]]);
  }

  /** The platform shows Stripe's subscription: its plan, seats, status, end of period and whether it ends there. */
  async checkSubscription(org: SimOrganization): Promise<void> {
    const state = org.card!;
    if (!state.subscription) return;
    const sub = this.ctx.stripe.subscription(state.subscription);
    const item = this.ctx.stripe.item(sub);
    const view = (await this.ctx.driver.call('GET', '/v1/subscription', org.apiKey)).body;
    const plan = simPlans.find((p) => String(item['price']['product']).endsWith(p.id))?.id;
    const ended = sub['status'] === 'canceled';
    // Stripe does what the customer asked: it ends the subscription at its period's end exactly when canceled.
    if (!ended && SimStripe.canceling(sub) !== state.cancelAtPeriodEnd) this.ctx.driver.violation('model subscription', `${org.model.name}: the customer ${state.cancelAtPeriodEnd ? 'canceled at period end' : 'did not cancel (or reactivated)'}, and Stripe ${SimStripe.canceling(sub) ? 'ends' : 'renews'} the subscription`);
    if (ended && !state.cancelAtPeriodEnd) this.ctx.driver.violation('model subscription', `${org.model.name}: Stripe ended a subscription the customer never canceled (or reactivated)`);
    const want = { status: ended ? 'canceled' : 'active', planId: plan, seats: item['quantity'], currentPeriodEnd: new Date(item['current_period_end'] * 1000).toISOString(), cancelAtPeriodEnd: ended ? view?.cancelAtPeriodEnd : SimStripe.canceling(sub) };
    const got = { status: view?.status, planId: view?.planId, seats: view?.seats, currentPeriodEnd: view?.currentPeriodEnd ? new Date(view.currentPeriodEnd).toISOString() : null, cancelAtPeriodEnd: view?.cancelAtPeriodEnd };
    if (JSON.stringify(want) !== JSON.stringify(got)) this.ctx.driver.violation('model subscription', `${org.model.name}: Stripe's subscription is ${JSON.stringify(want)}, the platform shows ${JSON.stringify(got)}`);
  }
}
