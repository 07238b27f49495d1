import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultPlans } from '@curbmap/contracts';
import { STRIPE_API_VERSION, StripePaymentProvider, type CustomerLinks } from './stripePaymentProvider.ts';
import { StripeTestServer, stripeFixture } from './stripeTestServer.fixture.ts';

const city = defaultPlans.find((p) => p.id === 'city')!;
const ORG = '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
const customer = { organizationId: ORG, name: 'City of Springfield', billingEmail: 'ap@springfield.gov', currency: 'USD' };

/** Our own link store, in memory: the port under test is Stripe's HTTP API, not this. */
class MemoryLinks implements CustomerLinks {
  readonly links = new Map<string, string>();
  async find(org: string) {
    return this.links.get(org) ?? null;
  }
  async link(org: string, id: string) {
    this.links.set(org, id);
  }
}

let server: StripeTestServer;
let provider: StripePaymentProvider;
let links: MemoryLinks;
beforeAll(async () => {
  server = new StripeTestServer();
  const base = await server.start();
  links = new MemoryLinks();
  provider = new StripePaymentProvider({ secretKey: 'sk_test_curbmap', apiBase: base }, links);
});
afterAll(() => server.close());
beforeEach(() => {
  server.reset();
  links.links.clear();
});

const start = (key: string, seats = 3, subscriptionId = '8a0c1f8e-5d57-4c1e-9a4e-2a1b3c4d5e6f') =>
  provider.startSubscription({ customer, plan: city, seats, collectionMethod: 'send_invoice', daysUntilDue: 30, poNumber: 'PO-7781', subscriptionId, idempotencyKey: key });

describe('Stripe payment provider against a checking Stripe stand-in', () => {
  it('creates a customer carrying our ids, the plan product, and a yearly per-seat send_invoice subscription', async () => {
    const { providerSubscriptionId } = await start('cmd-1:start');
    expect(providerSubscriptionId).toMatch(/^sub_/);
    // Each create looks first for what an earlier, unrecorded attempt made (by our metadata), then creates.
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/customers/search', 'POST /v1/customers', 'POST /v1/products', 'GET /v1/subscriptions', 'POST /v1/subscriptions']);
    const [search, cus, product, list, sub] = server.requests;
    expect(search!.query).toMatchObject({ query: `metadata['organizationId']:'${ORG}'` });
    expect(list!.query).toMatchObject({ customer: links.links.get(ORG), status: 'all' });
    expect(cus!.form).toMatchObject({ name: 'City of Springfield', email: 'ap@springfield.gov', 'metadata[organizationId]': ORG });
    expect(cus!.idempotencyKey).toBe(`customer:${ORG}`);
    expect(product!.form).toMatchObject({ id: 'curbmap_city', name: 'CurbMap City', 'metadata[planId]': 'city' });
    expect(sub!.form).toEqual({
      customer: links.links.get(ORG),
      'items[0][price_data][currency]': 'usd',
      'items[0][price_data][product]': 'curbmap_city',
      'items[0][price_data][unit_amount]': '360000',
      'items[0][price_data][recurring][interval]': 'year',
      'items[0][quantity]': '3',
      collection_method: 'send_invoice',
      days_until_due: '30',
      'metadata[organizationId]': ORG,
      'metadata[subscriptionId]': '8a0c1f8e-5d57-4c1e-9a4e-2a1b3c4d5e6f',
      'metadata[planId]': 'city',
      'metadata[poNumber]': 'PO-7781',
    });
    expect(sub!.idempotencyKey).toBe('cmd-1:start');
    expect(server.violations).toEqual([]);
  });

  it('reuses the linked customer', async () => {
    await links.link(ORG, 'cus_existing');
    await start('cmd-2:start');
    expect(server.requestsTo('POST', '/v1/customers')).toEqual([]);
    expect(server.requestsTo('POST', '/v1/subscriptions')[0]!.form['customer']).toBe('cus_existing');
  });

  it('retries 5xx and 429 with backoff, keeping the same Idempotency-Key', async () => {
    server.failNext('POST', /^\/v1\/subscriptions$/, 500, 1);
    await start('cmd-3:start');
    server.failNext('POST', /^\/v1\/subscriptions$/, 429, 2);
    await start('cmd-4:start', 3, '9b0c1f8e-5d57-4c1e-9a4e-2a1b3c4d5e6f');
    const keys = server.requestsTo('POST', '/v1/subscriptions').map((r) => r.idempotencyKey);
    expect(keys).toEqual(['cmd-3:start', 'cmd-3:start', 'cmd-4:start', 'cmd-4:start', 'cmd-4:start']);
  });

  it('carries out an intent retried after Stripe forgot its Idempotency-Key (24 hours) without making anything twice', async () => {
    const first = await start('cmd-9:start');
    const refunded = await provider.refund({ providerPaymentId: 'pi_test_late', amount: 1_000, idempotencyKey: 'refund:evt-1' });
    // A day later the outcomes were never recorded (a dead letter retried): our links are gone, Stripe's keys too.
    server.forgetIdempotencyKeys();
    links.links.clear();
    expect(await start('cmd-9:start')).toEqual(first);
    expect(await provider.refund({ providerPaymentId: 'pi_test_late', amount: 1_000, idempotencyKey: 'refund:evt-1' })).toEqual(refunded);
    expect(server.requestsTo('POST', '/v1/customers')).toHaveLength(1);
    expect(server.requestsTo('POST', '/v1/subscriptions')).toHaveLength(1);
    expect(server.requestsTo('POST', '/v1/refunds')).toHaveLength(1);
    expect(server.requestsTo('POST', '/v1/refunds')[0]!.form).toMatchObject({ 'metadata[curbmapRequest]': 'refund:evt-1' });
    // A subscription an earlier attempt made that has ended since is not taken for the intent's: it is made anew.
    server.subscriptions.get(first.providerSubscriptionId!)!['status'] = 'canceled';
    server.forgetIdempotencyKeys();
    expect((await start('cmd-9:start')).providerSubscriptionId).not.toBe(first.providerSubscriptionId);
    // Another intent on the same payment is another refund.
    await provider.refund({ providerPaymentId: 'pi_test_late', amount: 500, idempotencyKey: 'refund:evt-2' });
    expect(server.refunds).toHaveLength(2);
  });

  it('changes seats: an increase prorated and invoiced now, a decrease scheduled for the period end', async () => {
    const { providerSubscriptionId: id } = await start('cmd-5:start');
    const stripeSub = server.subscriptions.get(id!)!;
    const item = (stripeSub['items'] as { data: { id: string; current_period_end: number; price: { id: string } }[] }).data[0]!;
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 5, effective: 'now', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-6:change' });
    const [up] = server.requestsTo('POST', `/v1/subscriptions/${id}`);
    expect(up!.form).toMatchObject({ 'items[0][id]': item.id, 'items[0][quantity]': '5', proration_behavior: 'always_invoice' });
    expect(up!.idempotencyKey).toBe('cmd-6:change');

    // Never a decrease at once: a schedule keeps 5 seats to the period end, then 4 for the next year.
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 4, effective: 'renewal', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-7:change' });
    expect(server.requestsTo('POST', `/v1/subscriptions/${id}`)).toHaveLength(1);
    const [created] = server.requestsTo('POST', '/v1/subscription_schedules');
    expect(created).toMatchObject({ form: { from_subscription: id }, idempotencyKey: 'cmd-7:change:schedule' });
    const scheduleId = stripeSub['schedule'] as string;
    const [update] = server.requestsTo('POST', `/v1/subscription_schedules/${scheduleId}`);
    expect(update!.idempotencyKey).toBe('cmd-7:change');
    expect(update!.form).toMatchObject({
      end_behavior: 'release',
      proration_behavior: 'none',
      'phases[0][end_date]': String(item.current_period_end),
      'phases[0][items][0][price]': item.price.id,
      'phases[0][items][0][quantity]': '5',
      'phases[1][start_date]': String(item.current_period_end),
      'phases[1][duration][interval]': 'year',
      'phases[1][items][0][quantity]': '4',
      'phases[1][items][0][price_data][unit_amount]': '360000',
    });
    // A second change reuses the schedule the subscription already has.
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 3, effective: 'renewal', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-8:change' });
    expect(server.requestsTo('POST', '/v1/subscription_schedules')).toHaveLength(1);
    expect(server.requestsTo('POST', `/v1/subscription_schedules/${scheduleId}`)[1]!.form['phases[1][items][0][quantity]']).toBe('3');
    expect(server.violations).toEqual([]);
  });

  it('releases a schedule before a change made now, and cancels through the schedule that manages the subscription', async () => {
    const { providerSubscriptionId: id } = await start('cmd-10:start');
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 2, effective: 'renewal', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-11:change' });
    const scheduleId = server.subscriptions.get(id!)!['schedule'] as string;
    // Cancel at period end: the schedule ends with the current phase, then cancels.
    await provider.cancelSubscription({ providerSubscriptionId: id, atPeriodEnd: true, idempotencyKey: 'cmd-12:cancel' });
    const [, toCancel] = server.requestsTo('POST', `/v1/subscription_schedules/${scheduleId}`);
    expect(toCancel!.form).toMatchObject({ end_behavior: 'cancel', 'phases[0][items][0][quantity]': '3' });
    expect(toCancel!.form['phases[1][start_date]']).toBeUndefined();
    // Reactivate: released, then no cancellation.
    await provider.reactivateSubscription({ providerSubscriptionId: id, idempotencyKey: 'cmd-13:reactivate' });
    expect(server.requestsTo('POST', `/v1/subscription_schedules/${scheduleId}/release`)).toHaveLength(1);
    expect(server.requestsTo('POST', `/v1/subscriptions/${id}`).at(-1)!.form).toMatchObject({ cancel_at_period_end: 'false' });
    // A decrease again, then an increase now: released first, then the item changes.
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 2, effective: 'renewal', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-14:change' });
    const second = server.subscriptions.get(id!)!['schedule'] as string;
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 6, effective: 'now', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-15:change' });
    expect(server.requestsTo('POST', `/v1/subscription_schedules/${second}/release`)).toHaveLength(1);
    expect(server.requestsTo('POST', `/v1/subscriptions/${id}`).at(-1)!.form).toMatchObject({ 'items[0][quantity]': '6' });
    // Cancel now with a schedule: the schedule's cancel ends the subscription.
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 5, effective: 'renewal', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-16:change' });
    await provider.cancelSubscription({ providerSubscriptionId: id, atPeriodEnd: false, idempotencyKey: 'cmd-17:cancel' });
    expect(server.subscriptions.get(id!)!['status']).toBe('canceled');
    expect(server.violations).toEqual([]);
  });

  it('keeps a cancellation at period end through a change: the released schedule keeps its cancel date; a decrease while it ends keeps the schedule cancelling; a reactivation clears it', async () => {
    const { providerSubscriptionId: id } = await start('cmd-20:start');
    const sub = server.subscriptions.get(id!)!;
    const periodEnd = (sub['items'] as { data: { current_period_end: number }[] }).data[0]!.current_period_end;
    // A decrease (a schedule), then canceled at period end (the schedule cancels: cancel_at), then an increase now.
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 2, effective: 'renewal', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-21:change' });
    const scheduleId = sub['schedule'] as string;
    await provider.cancelSubscription({ providerSubscriptionId: id, atPeriodEnd: true, idempotencyKey: 'cmd-22:cancel' });
    expect(sub['cancel_at']).toBe(periodEnd);
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 7, effective: 'now', cancelAtPeriodEnd: true, idempotencyKey: 'cmd-23:change' });
    expect(server.requestsTo('POST', `/v1/subscription_schedules/${scheduleId}/release`)).toMatchObject([{ form: { preserve_cancel_date: 'true' } }]);
    expect(server.requestsTo('POST', `/v1/subscriptions/${id}`).at(-1)!.form).toMatchObject({ 'items[0][quantity]': '7' });
    expect(sub['cancel_at']).toBe(periodEnd);
    // A decrease while it ends at period end: the schedule still ends in a cancellation, with no next year.
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 3, effective: 'renewal', cancelAtPeriodEnd: true, idempotencyKey: 'cmd-24:change' });
    const second = sub['schedule'] as string;
    const update = server.requestsTo('POST', `/v1/subscription_schedules/${second}`).at(-1)!;
    expect(update.form).toMatchObject({ end_behavior: 'cancel', 'phases[0][items][0][quantity]': '7' });
    expect(update.form['phases[1][start_date]']).toBeUndefined();
    expect(sub['cancel_at']).toBe(periodEnd);
    // Reactivated: released without keeping the cancel date.
    await provider.reactivateSubscription({ providerSubscriptionId: id, idempotencyKey: 'cmd-25:reactivate' });
    expect(server.requestsTo('POST', `/v1/subscription_schedules/${second}/release`)[0]!.form['preserve_cancel_date']).toBeUndefined();
    expect(sub['cancel_at']).toBeNull();
    // Canceled through a schedule, then a change now (the cancel date stays on the subscription, with no schedule),
    // then reactivated: the cancel date goes too.
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 2, effective: 'renewal', cancelAtPeriodEnd: false, idempotencyKey: 'cmd-26:change' });
    await provider.cancelSubscription({ providerSubscriptionId: id, atPeriodEnd: true, idempotencyKey: 'cmd-27:cancel' });
    await provider.changeSubscription({ providerSubscriptionId: id, plan: city, currency: 'USD', seats: 9, effective: 'now', cancelAtPeriodEnd: true, idempotencyKey: 'cmd-28:change' });
    expect([sub['schedule'], sub['cancel_at']]).toEqual([null, periodEnd]);
    await provider.reactivateSubscription({ providerSubscriptionId: id, idempotencyKey: 'cmd-29:reactivate' });
    expect([sub['cancel_at'], sub['cancel_at_period_end']]).toEqual([null, false]);
    // Retried whole (the outbox after a crash): the same calls, the same parameters under the same keys.
    await provider.reactivateSubscription({ providerSubscriptionId: id, idempotencyKey: 'cmd-29:reactivate' });
    expect(server.violations).toEqual([]);
  });

  it('pins the API version it was written against on every request', async () => {
    await start('cmd-9:start');
    expect(server.requests.every((r) => r.stripeVersion === STRIPE_API_VERSION)).toBe(true);
  });

  it('keeps a card subscription incomplete until paid and returns what the browser needs to confirm it (SCA)', async () => {
    const { providerSubscriptionId: id } = await provider.startSubscription({ customer, plan: city, seats: 1, collectionMethod: 'charge_automatically', daysUntilDue: null, poNumber: null, subscriptionId: '8a0c1f8e-5d57-4c1e-9a4e-2a1b3c4d5e6f', idempotencyKey: 'card-1' });
    expect(server.subscriptions.get(id!)!['status']).toBe('incomplete');
    expect(server.requestsTo('POST', '/v1/subscriptions')[0]!.form).toMatchObject({ payment_behavior: 'default_incomplete', 'payment_settings[save_default_payment_method]': 'on_subscription' });
    const confirmation = await provider.paymentConfirmation({ providerSubscriptionId: id! });
    expect(confirmation).toMatchObject({ clientSecret: expect.stringMatching(/_secret_/), type: 'payment_intent' });
    expect(server.requestsTo('GET', `/v1/subscriptions/${id}`)[0]!.query).toMatchObject({ 'expand[0]': 'latest_invoice.confirmation_secret' });
    server.subscriptions.get(id!)!['status'] = 'active';
    expect(await provider.paymentConfirmation({ providerSubscriptionId: id! })).toBeNull();
  });

  it('finds the PaymentIntent of an invoice through its InvoicePayments', async () => {
    server.invoicePayments.set('in_paid', 'pi_paid');
    expect(await provider.invoicePaymentIntent('in_paid')).toBe('pi_paid');
    expect(await provider.invoicePaymentIntent('in_unpaid')).toBeNull();
    expect(server.requestsTo('GET', '/v1/invoice_payments')[0]!.query).toMatchObject({ invoice: 'in_paid' });
    // And the other way: the invoice a PaymentIntent paid.
    expect(await provider.paymentIntentInvoice('pi_paid')).toBe('in_paid');
    expect(await provider.paymentIntentInvoice('pi_other')).toBeNull();
    expect(server.requestsTo('GET', '/v1/invoice_payments').at(-1)!.query).toMatchObject({ 'payment[type]': 'payment_intent', 'payment[payment_intent]': 'pi_other' });
  });

  it('cancels at period end, reactivates, cancels now', async () => {
    const { providerSubscriptionId: id } = await start('cmd-8:start');
    await provider.cancelSubscription({ providerSubscriptionId: id, atPeriodEnd: true, idempotencyKey: 'k1' });
    await provider.reactivateSubscription({ providerSubscriptionId: id, idempotencyKey: 'k2' });
    await provider.cancelSubscription({ providerSubscriptionId: id, atPeriodEnd: false, idempotencyKey: 'k3' });
    // The reactivation clears both ways of ending at the period's end: a cancel date, and the flag.
    expect(server.requestsTo('POST', `/v1/subscriptions/${id}`).map((r) => r.form)).toEqual([{ cancel_at_period_end: 'true' }, { cancel_at: '' }, { cancel_at_period_end: 'false' }]);
    expect(server.requestsTo('DELETE', `/v1/subscriptions/${id}`)).toHaveLength(1);
  });

  it('returns a SetupIntent client secret and refunds a PaymentIntent', async () => {
    const intent = await provider.createSetupIntent({ customer, idempotencyKey: 'setup-1' });
    expect(intent.clientSecret).toMatch(/^seti_\w+_secret_/);
    expect(server.requestsTo('POST', '/v1/setup_intents')[0]!.form).toMatchObject({ usage: 'off_session', 'metadata[organizationId]': ORG });
    const refund = await provider.refund({ providerPaymentId: 'pi_123', amount: 5000, idempotencyKey: 'refund-1' });
    expect(refund).toMatchObject({ refundId: expect.stringMatching(/^re_/), status: 'succeeded' });
    expect(server.requestsTo('POST', '/v1/refunds')[0]).toMatchObject({ form: { payment_intent: 'pi_123', amount: '5000' }, idempotencyKey: 'refund-1' });
  });

  it('lists events since a time for reconciliation', async () => {
    server.events = [{ ...stripeFixture('event'), id: 'evt_old', created: 100 }, { ...stripeFixture('event'), id: 'evt_new', created: 200 }];
    const ids: string[] = [];
    for await (const e of provider.listEvents(150)) ids.push(e.id);
    expect(ids).toEqual(['evt_new']);
    expect(server.requestsTo('GET', '/v1/events')[0]!.query).toMatchObject({ 'created[gte]': '150', limit: '100' });
    expect(server.violations).toEqual([]);
  });
});
