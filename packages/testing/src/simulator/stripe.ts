import { createHmac } from 'node:crypto';
import { StripeTestServer, stripeFixture } from '@curbmap/billing/testing';
import type { Random } from './random.ts';

export const STRIPE_WEBHOOK_SECRET = 'whsec_simulation';

type Obj = Record<string, any>;

/** A Stripe invoice as Stripe issued it, and what became of its charge. */
export interface StripeCharge {
  id: string;
  number: string;
  subscription: string;
  customer: string;
  organizationId: string;
  currency: string;
  reason: 'subscription_create' | 'subscription_update' | 'subscription_cycle';
  lines: { amount: number; quantity: number; unitAmount: number; description: string; start: number; end: number }[];
  total: number;
  created: number;
  intent: string;
  /** Attempts that failed before the one that paid (a declined card, paid on Stripe's retry). */
  failed: number;
  paid: boolean;
  refunded: number;
  /** What the operator asked to refund of it (through the platform). */
  asked: number;
}

/** Delivery orders: Stripe's own, shuffled, or with some events delivered twice (Stripe retries). */
export type DeliveryOrder = 'stripe' | 'shuffled' | 'duplicated';

const YEAR_OF = (start: number) => {
  const d = new Date(start * 1000);
  d.setUTCFullYear(d.getUTCFullYear() + 1);
  return Math.floor(d.getTime() / 1000);
};

/**
 * Stripe, as far as the simulated histories need it, on the simulation's clock: the account the platform's
 * Stripe adapter talks to (the billing fixture's test server, answering with Stripe's own object shapes), and
 * what Stripe does by itself there: invoices a subscription when it starts, when a change is made now (the
 * proration, to the second, as Stripe computes it) and each year; charges the card (a decline now and then, paid
 * on a retry); applies a schedule's next phase at the renewal; ends a subscription canceled at its period's end;
 * refunds. Each of those reaches the platform as signed webhooks, in Stripe's order or shuffled, some twice.
 * This is the independent model of the card histories: what the platform must show is what Stripe says here.
 */
export class SimStripe {
  readonly server = new StripeTestServer();
  readonly charges: StripeCharge[] = [];
  /** The last event's `created` (seconds): the next is never earlier. */
  private created = 0;
  private seq = 0;
  private readonly numbers = new Map<string, number>();

  async start(): Promise<Record<string, string>> {
    const apiBase = await this.server.start();
    return { STRIPE_SECRET_KEY: 'sk_test_simulation', STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE: apiBase };
  }

  close(): Promise<void> {
    return this.server.close();
  }

  subscription(id: string): Obj {
    const sub = this.server.subscriptions.get(id);
    if (!sub) throw new Error(`Stripe has no subscription ${id}`);
    return sub;
  }

  item(sub: Obj): Obj {
    return sub['items'].data[0];
  }

  /** An event's `created`: the simulation's second, never before an earlier event's (the platform orders by it). */
  private stamp(nowMs: number): number {
    this.created = Math.max(this.created + 1, Math.floor(nowMs / 1000));
    return this.created;
  }

  private id(prefix: string): string {
    this.seq += 1;
    return `${prefix}_sim${String(this.seq).padStart(6, '0')}`;
  }

  event(type: string, object: Obj, nowMs: number): Obj {
    return { ...stripeFixture('event'), id: this.id('evt'), type, created: this.stamp(nowMs), livemode: false, data: { object: structuredClone(object) } };
  }

  /** A subscription just made by the platform: its period starts now (the simulation's), a year long. */
  started(id: string, nowMs: number): void {
    const item = this.item(this.subscription(id));
    item['current_period_start'] = Math.floor(nowMs / 1000);
    item['current_period_end'] = YEAR_OF(item['current_period_start']);
  }

  /** Stripe's invoice of `lines` for a subscription, charged at once (declined `failed` times first). */
  invoice(sub: Obj, reason: StripeCharge['reason'], lines: StripeCharge['lines'], nowMs: number, failed: number): StripeCharge {
    const customer = String(sub['customer']);
    const n = (this.numbers.get(customer) ?? 0) + 1;
    this.numbers.set(customer, n);
    const charge: StripeCharge = {
      id: this.id('in'),
      number: `${customer.slice(-6).toUpperCase()}-${String(n).padStart(4, '0')}`,
      subscription: String(sub['id']),
      customer,
      organizationId: String(sub['metadata']['organizationId']),
      currency: String(this.item(sub)['price']['currency']),
      reason,
      lines,
      total: lines.reduce((a, l) => a + l.amount, 0),
      created: Math.floor(nowMs / 1000),
      intent: this.id('pi'),
      failed,
      paid: false,
      refunded: 0,
      asked: 0,
    };
    this.charges.push(charge);
    sub['latest_invoice'] = charge.id;
    return charge;
  }

  /** The invoice object as Stripe sends it in a webhook. */
  invoiceObject(c: StripeCharge, status: 'draft' | 'open' | 'paid'): Obj {
    return {
      ...stripeFixture('invoice'),
      id: c.id,
      number: status === 'draft' ? null : c.number,
      customer: c.customer,
      subscription: c.subscription,
      billing_reason: c.reason,
      status,
      currency: c.currency,
      collection_method: 'charge_automatically',
      lines: { object: 'list', has_more: false, data: c.lines.map((l) => ({ ...(stripeFixture('invoice')['lines'] as { data: Obj[] }).data[0], amount: l.amount, quantity: l.quantity, description: l.description, period: { start: l.start, end: l.end }, pricing: { type: 'price_details', unit_amount_decimal: String(l.unitAmount) } })) },
      subtotal: c.total,
      total: c.total,
      total_taxes: [],
      amount_due: c.total,
      amount_paid: status === 'paid' ? c.total : 0,
      amount_remaining: status === 'paid' ? 0 : c.total,
      due_date: null,
      created: c.created,
      period_start: c.lines[0]?.start ?? c.created,
      period_end: c.lines[0]?.end ?? c.created,
      status_transitions: { finalized_at: status === 'draft' ? null : c.created, paid_at: status === 'paid' ? c.created : null, voided_at: null, marked_uncollectible_at: null },
      custom_fields: null,
    };
  }

  private intentObject(c: StripeCharge, status: 'succeeded' | 'requires_payment_method'): Obj {
    return {
      ...stripeFixture('payment_intent'),
      id: c.intent,
      customer: c.customer,
      status,
      amount: c.total,
      amount_received: status === 'succeeded' ? c.total : 0,
      currency: c.currency,
      metadata: {},
      last_payment_error: status === 'succeeded' ? null : { message: 'Your card was declined.', code: 'card_declined' },
    };
  }

  /**
   * The events of an invoice, as Stripe sends them: created, finalized, then each declined attempt, then the
   * charge that pays it (listed under the invoice first, as Stripe's InvoicePayment).
   */
  invoiceEvents(c: StripeCharge, nowMs: number): Obj[] {
    const events = [this.event('invoice.created', this.invoiceObject(c, 'draft'), nowMs), this.event('invoice.finalized', this.invoiceObject(c, 'open'), nowMs)];
    for (let k = 0; k < c.failed; k++) {
      events.push(this.event('payment_intent.payment_failed', this.intentObject(c, 'requires_payment_method'), nowMs), this.event('invoice.payment_failed', this.invoiceObject(c, 'open'), nowMs));
    }
    this.server.invoicePayments.set(c.id, c.intent);
    this.server.invoices.set(c.id, this.invoiceObject(c, 'paid'));
    c.paid = true;
    events.push(
      this.event('payment_intent.succeeded', this.intentObject(c, 'succeeded'), nowMs),
      this.event('invoice_payment.paid', { ...stripeFixture('invoice_payment'), id: this.id('inpay'), invoice: c.id, amount_paid: c.total, currency: c.currency, status: 'paid', payment: { type: 'payment_intent', payment_intent: c.intent } }, nowMs),
      this.event('invoice.paid', this.invoiceObject(c, 'paid'), nowMs),
    );
    return events;
  }

  subscriptionEvent(sub: Obj, nowMs: number, type = 'customer.subscription.updated'): Obj {
    return this.event(type, sub, nowMs);
  }

  /** A refund the platform asked Stripe for (its outbox): the charge's refunded amount grows, charge.refunded says so. */
  refundEvents(nowMs: number): Obj[] {
    const events: Obj[] = [];
    for (const refund of this.server.refunds) {
      if (refund['simulated']) continue;
      refund['simulated'] = true;
      const c = this.charges.find((x) => x.intent === refund['payment_intent']);
      if (!c) throw new Error(`Stripe refunded ${String(refund['payment_intent'])}, a payment it never took`);
      c.refunded += Number(refund['amount']);
      events.push(this.event('charge.refunded', { ...stripeFixture('charge'), id: `ch_${c.intent.slice(3)}`, customer: c.customer, payment_intent: c.intent, amount: c.total, amount_refunded: c.refunded, currency: c.currency }, nowMs));
    }
    return events;
  }

  /**
   * A change the platform made now (quantity or price, proration_behavior always_invoice): Stripe's proration
   * invoice, to the second: the unused time of the old item credited, the new item charged for the rest.
   */
  prorate(sub: Obj, before: { unitAmount: number; quantity: number }, nowMs: number, failed: number): StripeCharge | null {
    const item = this.item(sub);
    const [start, end, now] = [item['current_period_start'] as number, item['current_period_end'] as number, Math.floor(nowMs / 1000)];
    const after = { unitAmount: Number(item['price']['unit_amount']), quantity: Number(item['quantity']) };
    if (after.unitAmount === before.unitAmount && after.quantity === before.quantity) return null;
    const share = (amount: number) => Math.round((amount * (end - now)) / (end - start));
    return this.invoice(sub, 'subscription_update', [
      { amount: -share(before.unitAmount * before.quantity), quantity: before.quantity, unitAmount: before.unitAmount, description: `Unused time × ${before.quantity}`, start: now, end },
      { amount: share(after.unitAmount * after.quantity), quantity: after.quantity, unitAmount: after.unitAmount, description: `Remaining time × ${after.quantity}`, start: now, end },
    ], nowMs, failed);
  }

  /**
   * The renewals due by now: a subscription canceled at its period's end ends; one a schedule manages takes the
   * schedule's next phase (a decrease or downgrade) or ends with it; the rest starts a new year, invoiced and
   * charged. Returns the events, in Stripe's order per subscription.
   */
  renew(nowMs: number, decline: () => number): Obj[] {
    const events: Obj[] = [];
    const now = Math.floor(nowMs / 1000);
    for (const sub of this.server.subscriptions.values()) {
      const item = this.item(sub);
      while ((sub['status'] === 'active' || sub['status'] === 'past_due') && item['current_period_end'] <= now) {
        // Stripe renews when the clock gets there; the simulated clock jumps, so its events come now (a renewal
        // months late would be one the platform missed for months), for the period that ended.
        const at = nowMs;
        const schedule = sub['schedule'] ? this.server.schedules.get(String(sub['schedule'])) : null;
        if (SimStripe.canceling(sub)) {
          sub['status'] = 'canceled';
          sub['canceled_at'] = item['current_period_end'];
          if (schedule) (schedule['status'] = 'completed'), (sub['schedule'] = null);
          events.push(this.subscriptionEvent(sub, at, 'customer.subscription.deleted'));
          break;
        }
        // The schedule's next phase starts: its quantity and price apply, and the schedule stays on the
        // subscription through that phase (as Stripe's does); after its last phase it completes and lets go.
        const phases = (schedule?.['phases'] as Obj[] | undefined) ?? [];
        const next = phases[1]?.['items']?.[0];
        if (schedule && next) {
          item['quantity'] = Number(next['quantity']);
          if (next['price_data[unit_amount]'] !== undefined) Object.assign(item['price'], { unit_amount: Number(next['price_data[unit_amount]']), product: next['price_data[product]'] });
          schedule['phases'] = phases.slice(1);
        } else if (schedule) {
          schedule['status'] = 'completed';
          sub['schedule'] = null;
        }
        item['current_period_start'] = item['current_period_end'];
        item['current_period_end'] = YEAR_OF(item['current_period_start']);
        if (schedule && next) schedule['current_phase'] = { start_date: item['current_period_start'], end_date: item['current_period_end'] };
        const unit = Number(item['price']['unit_amount']);
        const charge = this.invoice(sub, 'subscription_cycle', [{ amount: unit * item['quantity'], quantity: item['quantity'], unitAmount: unit, description: `Renewal × ${item['quantity']}`, start: item['current_period_start'], end: item['current_period_end'] }], at, decline());
        events.push(this.subscriptionEvent(sub, at), ...this.invoiceEvents(charge, at));
      }
    }
    return events;
  }

  /** Whether Stripe ends the subscription at its period's end: its own flag, or a cancel date (a schedule's). */
  static canceling(sub: Obj): boolean {
    const item = sub['items'].data[0];
    return sub['cancel_at_period_end'] === true || (typeof sub['cancel_at'] === 'number' && sub['cancel_at'] <= item['current_period_end']);
  }

  /** The events in the chosen order: Stripe's, shuffled, or with some delivered twice (in place and at the end). */
  static arrange(events: Obj[], order: DeliveryOrder, random: Random): Obj[] {
    if (order === 'stripe') return events;
    if (order === 'shuffled') return random.shuffle(events);
    return [...events.flatMap((e) => (random.chance(0.3) ? [e, e] : [e])), ...events.filter(() => random.chance(0.2))];
  }

  /** Signs as Stripe does (`t=<unix>,v1=<HMAC-SHA256 of "t.payload">`), with the real time: the tolerance is real. */
  static signature(payload: string): string {
    const t = Math.floor(Date.now() / 1000);
    return `t=${t},v1=${createHmac('sha256', STRIPE_WEBHOOK_SECRET).update(`${t}.${payload}`).digest('hex')}`;
  }
}
