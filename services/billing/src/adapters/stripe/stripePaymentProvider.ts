import Stripe from 'stripe';
import type { CollectionMethod } from '@curbmap/contracts';
import type { Plan } from '@curbmap/contracts';
import type { PaymentProvider, ProviderCustomer } from '../payment/paymentProvider.ts';
import type { StripeEventLike } from './stripeObjects.ts';

export interface StripeProviderOptions {
  secretKey: string;
  /** e.g. http://127.0.0.1:12111 for stripe-mock or a test server; Stripe itself when unset. */
  apiBase?: string | null;
  maxNetworkRetries?: number;
  timeoutMs?: number;
}

/** Where the organization ↔ Stripe customer link is kept (billing.customer.linked events). */
export interface CustomerLinks {
  find(organizationId: string): Promise<string | null>;
  link(organizationId: string, customerId: string): Promise<void>;
}

/**
 * The API version this code was written and tested against (the shapes in testdata come from its fixtures):
 * pinned, so an account's default version or a library upgrade never changes what a field means under us.
 */
export const STRIPE_API_VERSION = '2026-10-28.endive';

export function createStripeClient(options: StripeProviderOptions): Stripe {
  const config: ConstructorParameters<typeof Stripe>[1] = {
    apiVersion: STRIPE_API_VERSION,
    // Retries with exponential backoff on connection errors, 409, 429 and 5xx; the Idempotency-Key stays the same.
    maxNetworkRetries: options.maxNetworkRetries ?? 3,
    timeout: options.timeoutMs ?? 20_000,
    appInfo: { name: 'curbmap-billing', version: '1.0.0' },
  };
  if (options.apiBase) {
    const url = new URL(options.apiBase);
    config.host = url.hostname;
    config.port = url.port || (url.protocol === 'https:' ? 443 : 80);
    config.protocol = url.protocol.replace(':', '') as 'http' | 'https';
  }
  return new Stripe(options.secretKey, config);
}

const productId = (plan: Plan) => `curbmap_${plan.id}`;

/**
 * The Stripe adapter: a customer per organization (metadata carries our ids), a yearly per-seat price per plan,
 * `send_invoice` for cities. Every POST carries the idempotency key derived from our command id.
 */
export class StripePaymentProvider implements PaymentProvider {
  readonly kind = 'stripe' as const;
  readonly stripe: Stripe;
  private readonly links: CustomerLinks;
  private readonly products = new Set<string>();

  constructor(options: StripeProviderOptions, links: CustomerLinks) {
    this.stripe = createStripeClient(options);
    this.links = links;
  }

  /**
   * stripe-node retries connection errors, 409 and 5xx itself, but not a plain 429 (rate limit): retry those
   * here with exponential backoff and jitter. The request options, hence the Idempotency-Key, are unchanged.
   */
  private async call<T>(request: () => Promise<T>, attempts = 4): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 429 || attempt >= attempts) throw err;
        const delay = Math.min(5000, 250 * 2 ** (attempt - 1));
        await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
      }
    }
  }

  async ensureCustomer(customer: ProviderCustomer): Promise<string> {
    const existing = await this.links.find(customer.organizationId);
    if (existing) return existing;
    // Created before and not linked (a crash in between, more than the 24 hours Stripe keeps an Idempotency-Key
    // ago): found by our metadata rather than made twice.
    const found = (await this.call(() => this.stripe.customers.search({ query: `metadata['organizationId']:'${customer.organizationId}'`, limit: 1 }))).data[0];
    if (found) {
      await this.links.link(customer.organizationId, found.id);
      return found.id;
    }
    const created = await this.call(() => this.stripe.customers.create(
      { name: customer.name, email: customer.billingEmail, metadata: { organizationId: customer.organizationId } },
      { idempotencyKey: `customer:${customer.organizationId}` },
    ));
    await this.links.link(customer.organizationId, created.id);
    return created.id;
  }

  /** A yearly, per-seat line: the configured Price, or inline price data on our product for the plan. */
  private async item(plan: Plan, currency: string, seats: number) {
    const configured = plan.stripePrices?.[currency];
    if (configured) return { price: configured, quantity: seats };
    await this.ensureProduct(plan);
    const unitAmount = plan.seatPrices[currency];
    if (unitAmount === undefined) throw new Error(`plan ${plan.id} has no ${currency} price`);
    return { price_data: { currency: currency.toLowerCase(), product: productId(plan), unit_amount: unitAmount, recurring: { interval: 'year' as const } }, quantity: seats };
  }

  private async ensureProduct(plan: Plan): Promise<void> {
    if (this.products.has(plan.id)) return; // once per process, not once per subscription change
    try {
      await this.call(() => this.stripe.products.create({ id: productId(plan), name: `CurbMap ${plan.name}`, metadata: { planId: plan.id } }, { idempotencyKey: `product:${plan.id}` }));
    } catch (err) {
      if ((err as { code?: string }).code !== 'resource_already_exists') throw err;
    }
    this.products.add(plan.id);
  }

  async startSubscription(input: { customer: ProviderCustomer; plan: Plan; seats: number; collectionMethod: CollectionMethod; daysUntilDue: number | null; poNumber: string | null; subscriptionId: string; idempotencyKey: string }) {
    const customer = await this.ensureCustomer(input.customer);
    const item = await this.item(input.plan, input.customer.currency, input.seats);
    const metadata: Record<string, string> = { organizationId: input.customer.organizationId, subscriptionId: input.subscriptionId, planId: input.plan.id };
    if (input.poNumber) metadata['poNumber'] = input.poNumber;
    // An intent carried out before (its outcome not recorded, and retried after Stripe forgot the Idempotency-Key,
    // kept 24 hours): the subscription that carries our id is the one it made.
    // An ended one (canceled, expired) is not the intent's: it is made again.
    const made = (await this.call(() => this.stripe.subscriptions.list({ customer, status: 'all', limit: 100 }))).data.find((s) => s.metadata?.['subscriptionId'] === input.subscriptionId && s.metadata?.['organizationId'] === input.customer.organizationId && s.status !== 'canceled' && s.status !== 'incomplete_expired');
    if (made) return { providerSubscriptionId: made.id };
    const subscription = await this.call(() => this.stripe.subscriptions.create(
      {
        customer,
        items: [item],
        collection_method: input.collectionMethod,
        // A card subscription stays incomplete until the customer confirms its first payment (SCA).
        ...(input.collectionMethod === 'send_invoice' ? { days_until_due: input.daysUntilDue ?? 30 } : { payment_behavior: 'default_incomplete' as const, payment_settings: { save_default_payment_method: 'on_subscription' as const } }),
        metadata,
      },
      { idempotencyKey: input.idempotencyKey },
    ));
    return { providerSubscriptionId: subscription.id };
  }

  async changeSubscription(input: { providerSubscriptionId: string | null; plan: Plan; currency: string; seats: number; effective: 'now' | 'renewal'; cancelAtPeriodEnd: boolean; idempotencyKey: string }) {
    const id = required(input.providerSubscriptionId);
    const current = await this.call(() => this.stripe.subscriptions.retrieve(id));
    const currentItem = current.items.data[0];
    const item = await this.item(input.plan, input.currency, input.seats);
    if (input.effective === 'now') {
      // Stripe refuses direct changes to a subscription a schedule manages: a change made now replaces any
      // change scheduled for the renewal (our aggregate forgets it too), so the schedule is released first,
      // keeping the cancellation it set (its cancel_at): a change never lifts a cancellation at period end.
      await this.releaseSchedule(current, input.idempotencyKey, { preserveCancel: true });
      // Increases and upgrades apply now and Stripe invoices the proration at once.
      await this.call(() => this.stripe.subscriptions.update(id, { items: [{ ...(currentItem ? { id: currentItem.id } : {}), ...item }], proration_behavior: 'always_invoice' }, { idempotencyKey: input.idempotencyKey }));
      return;
    }
    // Decreases and downgrades wait for the period end: a subscription schedule whose next phase starts then.
    if (!currentItem) throw new Error(`Stripe subscription ${id} has no item`);
    let scheduleId = scheduleOf(current);
    if (!scheduleId) {
      const created = await this.call(() => this.stripe.subscriptionSchedules.create({ from_subscription: id }, { idempotencyKey: `${input.idempotencyKey}:schedule` }));
      scheduleId = created.id;
    }
    const schedule = await this.call(() => this.stripe.subscriptionSchedules.retrieve(scheduleId!));
    const phase = schedule.current_phase ?? { start_date: currentItem.current_period_start, end_date: currentItem.current_period_end };
    const price = typeof currentItem.price === 'string' ? currentItem.price : currentItem.price.id;
    const thisYear = { start_date: phase.start_date, end_date: phase.end_date, items: [{ price, quantity: currentItem.quantity ?? 1 }] };
    // Canceled at period end: the schedule ends with the current phase and cancels (the change, for a year that
    // will not come, is ours alone until a reactivation, which drops it).
    await this.call(() => this.stripe.subscriptionSchedules.update(
      scheduleId!,
      input.cancelAtPeriodEnd
        ? { end_behavior: 'cancel', proration_behavior: 'none', phases: [thisYear] }
        : { end_behavior: 'release', proration_behavior: 'none', phases: [thisYear, { start_date: phase.end_date, duration: { interval: 'year', interval_count: 1 }, items: [item] }] },
      { idempotencyKey: input.idempotencyKey },
    ));
  }

  async cancelSubscription(input: { providerSubscriptionId: string | null; atPeriodEnd: boolean; idempotencyKey: string }) {
    const id = required(input.providerSubscriptionId);
    const current = await this.call(() => this.stripe.subscriptions.retrieve(id));
    const scheduleId = scheduleOf(current);
    if (scheduleId && !input.atPeriodEnd) {
      // Cancels the schedule and the subscription it manages, now.
      await this.call(() => this.stripe.subscriptionSchedules.cancel(scheduleId, {}, { idempotencyKey: input.idempotencyKey }));
    } else if (scheduleId) {
      // A schedule owns the cancellation behaviour: end with the current phase, then cancel.
      const schedule = await this.call(() => this.stripe.subscriptionSchedules.retrieve(scheduleId));
      const phase = schedule.current_phase!;
      const item = current.items.data[0]!;
      const price = typeof item.price === 'string' ? item.price : item.price.id;
      await this.call(() => this.stripe.subscriptionSchedules.update(scheduleId, { end_behavior: 'cancel', phases: [{ start_date: phase.start_date, end_date: phase.end_date, items: [{ price, quantity: item.quantity ?? 1 }] }] }, { idempotencyKey: input.idempotencyKey }));
    } else if (input.atPeriodEnd) {
      await this.call(() => this.stripe.subscriptions.update(id, { cancel_at_period_end: true }, { idempotencyKey: input.idempotencyKey }));
    } else {
      await this.call(() => this.stripe.subscriptions.cancel(id, {}, { idempotencyKey: input.idempotencyKey }));
    }
  }

  async reactivateSubscription(input: { providerSubscriptionId: string | null; idempotencyKey: string }) {
    const id = required(input.providerSubscriptionId);
    const current = await this.call(() => this.stripe.subscriptions.retrieve(id));
    // Released, the subscription goes on by itself (a change that was scheduled is dropped, as in our aggregate).
    await this.releaseSchedule(current, input.idempotencyKey, { preserveCancel: false });
    // A cancel date a schedule left when a change released it (preserve_cancel_date) is cleared too: each call
    // with parameters of its own under a key of its own, the same on every retry.
    await this.call(() => this.stripe.subscriptions.update(id, { cancel_at: '' }, { idempotencyKey: `${input.idempotencyKey}:cancel-at` }));
    await this.call(() => this.stripe.subscriptions.update(id, { cancel_at_period_end: false }, { idempotencyKey: input.idempotencyKey }));
  }

  /**
   * Releases the schedule that manages the subscription, if any. A schedule ending in a cancellation sets the
   * subscription's cancel_at; `preserveCancel` keeps it (a change), otherwise the release clears it (a reactivation).
   */
  private async releaseSchedule(subscription: Stripe.Subscription, idempotencyKey: string, { preserveCancel }: { preserveCancel: boolean }): Promise<void> {
    const scheduleId = scheduleOf(subscription);
    if (scheduleId) await this.call(() => this.stripe.subscriptionSchedules.release(scheduleId, preserveCancel ? { preserve_cancel_date: true } : {}, { idempotencyKey: `${idempotencyKey}:release` }));
  }

  async createSetupIntent(input: { customer: ProviderCustomer; idempotencyKey: string }) {
    const customer = await this.ensureCustomer(input.customer);
    const intent = await this.call(() => this.stripe.setupIntents.create({ customer, usage: 'off_session', metadata: { organizationId: input.customer.organizationId } }, { idempotencyKey: input.idempotencyKey }));
    if (!intent.client_secret) throw new Error('Stripe returned a SetupIntent without a client secret');
    return { clientSecret: intent.client_secret, setupIntentId: intent.id };
  }

  async refund(input: { providerPaymentId: string; amount: number; idempotencyKey: string }) {
    // A refund asked before (the same intent, its outcome not recorded) is found by the intent it carries, not made
    // again once Stripe has forgotten the Idempotency-Key.
    const made = (await this.call(() => this.stripe.refunds.list({ payment_intent: input.providerPaymentId, limit: 100 }))).data.find((r) => r.metadata?.['curbmapRequest'] === input.idempotencyKey);
    const refund = made ?? (await this.call(() => this.stripe.refunds.create({ payment_intent: input.providerPaymentId, amount: input.amount, metadata: { curbmapRequest: input.idempotencyKey } }, { idempotencyKey: input.idempotencyKey })));
    return { refundId: refund.id, status: refund.status ?? 'pending' };
  }

  async paymentConfirmation(input: { providerSubscriptionId: string }) {
    const sub = await this.call(() => this.stripe.subscriptions.retrieve(input.providerSubscriptionId, { expand: ['latest_invoice.confirmation_secret'] }));
    const invoice = sub.latest_invoice;
    if (sub.status !== 'incomplete' || !invoice || typeof invoice === 'string' || !invoice.confirmation_secret) return null;
    return { clientSecret: invoice.confirmation_secret.client_secret, type: invoice.confirmation_secret.type, invoiceId: invoice.id ?? '' };
  }

  /** A Stripe object as it is now (an event about an object we do not know yet is matched by its metadata). */
  async retrieve(kind: 'customer' | 'subscription' | 'invoice' | 'payment_intent' | 'charge', id: string): Promise<Record<string, unknown>> {
    const get: Record<typeof kind, () => Promise<unknown>> = {
      customer: () => this.stripe.customers.retrieve(id),
      subscription: () => this.stripe.subscriptions.retrieve(id),
      invoice: () => this.stripe.invoices.retrieve(id),
      payment_intent: () => this.stripe.paymentIntents.retrieve(id),
      charge: () => this.stripe.charges.retrieve(id),
    };
    return (await this.call(get[kind])) as Record<string, unknown>;
  }

  /**
   * The PaymentIntent that paid (or tried to pay) an invoice. The Invoice object no longer names it: the
   * current API links them through InvoicePayment objects.
   */
  async invoicePaymentIntent(invoiceId: string): Promise<string | null> {
    const page = await this.call(() => this.stripe.invoicePayments.list({ invoice: invoiceId, limit: 10 }));
    const payments = page.data.filter((p) => p.payment.type === 'payment_intent');
    const chosen = payments.find((p) => p.status === 'paid') ?? payments.find((p) => p.is_default) ?? payments[0];
    const intent = chosen?.payment.payment_intent;
    return typeof intent === 'string' ? intent : (intent?.id ?? null);
  }

  /** The invoice a PaymentIntent paid (an InvoicePayment names both), or null: one that pays no invoice. */
  async paymentIntentInvoice(paymentIntentId: string): Promise<string | null> {
    const page = await this.call(() => this.stripe.invoicePayments.list({ payment: { type: 'payment_intent', payment_intent: paymentIntentId }, limit: 10 }));
    const invoice = page.data[0]?.invoice;
    return typeof invoice === 'string' ? invoice : (invoice?.id ?? null);
  }

  /** Events created at or after `createdGte` (seconds), every page. */
  async *listEvents(createdGte: number): AsyncIterable<StripeEventLike> {
    for await (const event of this.stripe.events.list({ created: { gte: createdGte }, limit: 100 })) yield event as unknown as StripeEventLike;
  }
}

function scheduleOf(subscription: Stripe.Subscription): string | null {
  return typeof subscription.schedule === 'string' ? subscription.schedule : (subscription.schedule?.id ?? null);
}

function required(id: string | null): string {
  if (!id) throw new Error('this subscription has no Stripe subscription id');
  return id;
}
