import Stripe from 'stripe';
import { DEAD_LETTERS, deterministicUuid } from '@curbmap/eventsourcing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { StripeTestServer, stripeFixture } from '../adapters/stripe/stripeTestServer.fixture.ts';
import { billingCollections as C, type PaymentView, type StripeCustomerView } from '../projections/billingProjections.ts';
import type { StripeInvoiceView } from '../projections/stripeProjection.ts';

const SECRET = 'whsec_curbmap_test_secret';
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
let server: StripeTestServer;
let p: TestPlatform;
let org: { id: string; apiKey: string };
let stripeSubscription: Record<string, unknown>;
let customerId: string;

beforeEach(async () => {
  server = new StripeTestServer();
  const apiBase = await server.start();
  p = await startTestPlatform({ modules: { stripe: { secretKey: 'sk_test_curbmap', apiBase }, stripeWebhookSecret: SECRET } });
  org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
  // With Stripe, the default terms are card only: the operator lets this city pay by invoice.
  const terms = await p.app.inject({ method: 'PUT', url: `/v1/admin/organizations/${org.id}/billing-terms`, headers: admin, payload: { collectionMethods: ['send_invoice', 'charge_automatically'], daysUntilDue: 30 } });
  expect(terms.json()).toEqual({ collectionMethods: ['send_invoice', 'charge_automatically'], daysUntilDue: 30, source: 'operator' });
  const res = await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: { authorization: `Bearer ${org.apiKey}` }, payload: { planId: 'city', seats: 3, collectionMethod: 'send_invoice' } });
  expect(res.statusCode, res.body).toBe(201);
  expect(res.json()).toMatchObject({ provider: 'stripe', providerSubscriptionId: expect.stringMatching(/^sub_/) });
  stripeSubscription = server.subscriptions.get(res.json().providerSubscriptionId)!;
  customerId = stripeSubscription['customer'] as string;
});
afterEach(async () => {
  await p.close();
  await server.close();
});

let seq = 0;
function event(type: string, object: Record<string, unknown>, created: number): Record<string, unknown> {
  seq += 1;
  return { ...stripeFixture('event'), id: `evt_test${String(seq).padStart(8, '0')}`, type, created, data: { object } };
}

function deliver(evt: Record<string, unknown>, options: { secret?: string; timestamp?: number; body?: string } = {}) {
  const payload = options.body ?? JSON.stringify(evt);
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? SECRET, ...(options.timestamp ? { timestamp: options.timestamp } : {}) });
  return p.app.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, payload });
}

const subscriptionAt = (changes: Record<string, unknown>, quantity: number) => {
  const items = structuredClone(stripeSubscription['items']) as { data: Record<string, unknown>[] };
  items.data[0]!['quantity'] = quantity;
  return { ...structuredClone(stripeSubscription), ...changes, items };
};
const subscriptionView = async () => (await p.app.inject({ url: '/v1/subscription', headers: { authorization: `Bearer ${org.apiKey}` } })).json();

/** A deterministic shuffle (mulberry32), so a failing order can be replayed. */
function shuffled<T>(items: T[], seed: number): T[] {
  let a = seed;
  const random = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('Stripe webhook ingest', () => {
  it('refuses bad, stale or missing signatures and non-JSON bodies with 400, storing nothing', async () => {
    const evt = event('customer.updated', { ...stripeFixture('customer'), id: customerId }, 1_800_000_000);
    const before = await p.eventCount();
    const bad = await deliver(evt, { secret: 'whsec_wrong' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toMatch(/problem\+json/);
    expect(bad.json().detail).toMatch(/signature/);
    expect((await deliver(evt, { timestamp: Math.floor(Date.now() / 1000) - 301 })).json().detail).toMatch(/tolerance|timestamp/i);
    const notJson = await deliver(evt, { body: 'not json at all' });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().detail).toBe('the body is not JSON');
    const unsigned = await p.app.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(evt) });
    expect(unsigned.statusCode).toBe(400);
    // Signed but malformed: 400 (Stripe would retry a 5xx for days), never stored.
    for (const [change, field] of [
      [{ created: undefined }, /created/],
      [{ created: '1800000000' }, /created/],
      [{ created: 1e20 }, /created/],
      [{ livemode: 'false' }, /livemode/],
      [{ livemode: undefined }, /livemode/],
      [{ type: undefined }, /type/],
      [{ type: 42 }, /type/],
    ] as const) {
      const malformed = await deliver({ ...evt, ...change });
      expect(malformed.statusCode, JSON.stringify(change)).toBe(400);
      expect(malformed.json().detail).toMatch(field);
    }
    expect(await p.eventCount()).toBe(before);
  });

  it('stores an event once: a duplicate delivery answers 200 with no effect', async () => {
    const evt = event('plan.created', stripeFixture('price'), 1_800_000_000);
    const first = await deliver(evt);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ received: true, duplicate: false });
    const before = await p.eventCount();
    expect((await deliver(evt)).json()).toEqual({ received: true, duplicate: true });
    await p.settle();
    expect(await p.eventCount()).toBe(before); // unknown types are stored, not applied
  });

  for (const seed of [1, 2, 3]) {
    it(`applies every handled type once, whatever the order and duplicates (order ${seed})`, async () => {
      const t = Math.floor(Date.now() / 1000);
      const sub = (created: number, quantity: number, changes: Record<string, unknown> = {}) => event('customer.subscription.updated', subscriptionAt({ status: 'active', ...changes }, quantity), created);
      const inv = (type: string, status: string, created: number) => event(type, { ...stripeFixture('invoice'), id: 'in_test_annual', customer: customerId, status, amount_due: 1_080_000, amount_paid: status === 'paid' ? 1_080_000 : 0, currency: 'usd' }, created);
      const pi = (type: string, status: string, created: number) => event(type, { ...stripeFixture('payment_intent'), id: 'pi_test_annual', customer: customerId, status, amount: 1_080_000, amount_received: status === 'succeeded' ? 1_080_000 : 0, currency: 'usd', metadata: {}, last_payment_error: { message: 'card declined' }, next_action: { type: 'use_stripe_sdk' } }, created);
      const refund = (amount: number, created: number) => event('charge.refunded', { ...stripeFixture('charge'), id: 'ch_test_annual', customer: customerId, payment_intent: 'pi_test_annual', amount: 1_080_000, amount_refunded: amount, currency: 'usd' }, created);
      const cus = (type: string, email: string, created: number) => event(type, { ...stripeFixture('customer'), id: customerId, email, metadata: { organizationId: org.id }, discount: null }, created);
      const events = [
        cus('customer.created', 'first@springfield.gov', t + 1),
        cus('customer.updated', 'newest@springfield.gov', t + 9),
        cus('customer.updated', 'older@springfield.gov', t + 5),
        event('customer.subscription.created', subscriptionAt({ status: 'active' }, 3), t + 1),
        sub(t + 10, 5),
        sub(t + 20, 7),
        sub(t + 30, 7, { cancel_at_period_end: true }),
        inv('invoice.created', 'draft', t + 1),
        inv('invoice.finalized', 'open', t + 2),
        inv('invoice.payment_failed', 'open', t + 3),
        inv('invoice.paid', 'paid', t + 4),
        pi('payment_intent.requires_action', 'requires_action', t + 1),
        pi('payment_intent.payment_failed', 'requires_payment_method', t + 2),
        pi('payment_intent.succeeded', 'succeeded', t + 3),
        refund(300_000, t + 4),
        refund(500_000, t + 5),
        event('invoice.voided', { ...stripeFixture('invoice'), id: 'in_test_void', customer: customerId, status: 'void' }, t + 2),
        event('invoice.marked_uncollectible', { ...stripeFixture('invoice'), id: 'in_test_bad', customer: customerId, status: 'uncollectible' }, t + 2),
        event('source.chargeable', { id: 'src_1', object: 'source' }, t + 1),
      ];
      // Stripe links the invoice and its PaymentIntent through an InvoicePayment, not a field on the invoice.
      server.invoicePayments.set('in_test_annual', 'pi_test_annual');
      const deliveries = shuffled([...events, ...events.filter((_, i) => i % 3 === seed % 3)], seed);
      for (const e of deliveries) expect((await deliver(e)).statusCode).toBe(200);
      await p.settle();

      expect(await subscriptionView()).toMatchObject({ seats: 7, cancelAtPeriodEnd: true, status: 'active' });
      const stripeCustomer = await p.ctx.readStore.get<StripeCustomerView>(C.stripeCustomers, customerId);
      expect(stripeCustomer).toMatchObject({ organizationId: org.id, email: 'newest@springfield.gov' });
      expect(await p.ctx.readStore.get<StripeInvoiceView>(C.stripeInvoices, 'in_test_annual')).toMatchObject({ status: 'paid', organizationId: org.id, amountPaid: 1_080_000 });
      expect((await p.ctx.readStore.get<StripeInvoiceView>(C.stripeInvoices, 'in_test_void'))?.status).toBe('void');
      expect((await p.ctx.readStore.get<StripeInvoiceView>(C.stripeInvoices, 'in_test_bad'))?.status).toBe('uncollectible');
      const payment = await p.ctx.readStore.get<PaymentView>(C.payments, 'pi_test_annual');
      expect(payment).toMatchObject({ status: 'refunded', amount: 1_080_000, refundedAmount: 500_000, provider: 'stripe', organizationId: org.id });
      const types: string[] = [];
      for await (const e of p.ctx.store.readStream('payment-pi_test_annual')) types.push(e.type);
      expect(types.filter((x) => x === 'billing.payment.succeeded')).toHaveLength(1);
      let stored = 0;
      for await (const _ of p.ctx.store.readAll({ filter: { types: ['billing.stripe_event.received'] } })) stored += 1;
      expect(stored).toBe(events.length);
      // One charge, one payment: invoice.paid is recorded under its PaymentIntent, not as a second payment.
      const payments = (await p.app.inject({ url: '/v1/payments', headers: { authorization: `Bearer ${org.apiKey}` } })).json().data;
      expect(payments.map((x: { id: string }) => x.id)).toEqual(['pi_test_annual']);
      expect(payments[0]).toMatchObject({ invoiceId: deterministicUuid('stripe-invoice:in_test_annual') });
      // The invoice service's view (dashboard, invoices CSV) says paid too, whichever came first of
      // payment_intent.succeeded and invoice.paid: the payment counts on its invoice once.
      const invoice = (await p.app.inject({ url: `/v1/invoices/${deterministicUuid('stripe-invoice:in_test_annual')}`, headers: { authorization: `Bearer ${org.apiKey}` } })).json();
      expect(invoice).toMatchObject({ status: 'paid', amountPaid: 1_080_000, amountRemaining: 0 });
    });
  }

  it('counts a payment recorded under its invoice (its PaymentIntent unknown then) once, when a later invoice_payment.paid names the PaymentIntent', async () => {
    const t = Math.floor(Date.now() / 1000);
    const invoice = { ...stripeFixture('invoice'), id: 'in_test_once', customer: customerId, amount_due: 40_000, currency: 'usd' };
    const sequence = [
      event('invoice.finalized', { ...invoice, status: 'open', amount_paid: 0 }, t),
      event('invoice.paid', { ...invoice, status: 'paid', amount_paid: 40_000 }, t + 1), // no InvoicePayment listed yet
      event('payment_intent.succeeded', { ...stripeFixture('payment_intent'), id: 'pi_test_once', customer: customerId, status: 'succeeded', amount: 40_000, amount_received: 40_000, currency: 'usd', metadata: {} }, t + 2),
      event('invoice_payment.paid', { ...stripeFixture('invoice_payment'), id: 'inpay_test_once', invoice: 'in_test_once', amount_paid: 40_000, currency: 'usd', status: 'paid', payment: { type: 'payment_intent', payment_intent: 'pi_test_once' } }, t + 3),
    ];
    for (const e of sequence) {
      expect((await deliver(e)).statusCode).toBe(200);
      await p.settle();
    }
    const view = (await p.app.inject({ url: `/v1/invoices/${deterministicUuid('stripe-invoice:in_test_once')}`, headers: { authorization: `Bearer ${org.apiKey}` } })).json();
    expect(view).toMatchObject({ status: 'paid', amountPaid: 40_000, amountRemaining: 0 });
  });

  it('records one payment for one charge when invoice.paid came before Stripe listed its PaymentIntent; the refund lands on it', async () => {
    const t = Math.floor(Date.now() / 1000);
    const invoice = { ...stripeFixture('invoice'), id: 'in_test_alias', customer: customerId, amount_due: 30_000, currency: 'usd' };
    expect((await deliver(event('invoice.finalized', { ...invoice, status: 'open', amount_paid: 0 }, t))).statusCode).toBe(200);
    expect((await deliver(event('invoice.paid', { ...invoice, status: 'paid', amount_paid: 30_000 }, t + 1))).statusCode).toBe(200); // no InvoicePayment listed yet
    await p.settle();
    server.invoicePayments.set('in_test_alias', 'pi_test_alias'); // Stripe lists it now
    expect((await deliver(event('payment_intent.succeeded', { ...stripeFixture('payment_intent'), id: 'pi_test_alias', customer: customerId, status: 'succeeded', amount: 30_000, amount_received: 30_000, currency: 'usd', metadata: {} }, t + 2))).statusCode).toBe(200);
    expect((await deliver(event('charge.refunded', { ...stripeFixture('charge'), id: 'ch_test_alias', customer: customerId, payment_intent: 'pi_test_alias', amount: 30_000, amount_refunded: 10_000, currency: 'usd' }, t + 3))).statusCode).toBe(200);
    await p.settle();
    const payments = (await p.app.inject({ url: '/v1/payments', headers: { authorization: `Bearer ${org.apiKey}` } })).json().data;
    expect(payments).toEqual([expect.objectContaining({ id: 'in_test_alias', amount: 30_000, refundedAmount: 10_000, invoiceId: deterministicUuid('stripe-invoice:in_test_alias') })]);
    const view = (await p.app.inject({ url: `/v1/invoices/${deterministicUuid('stripe-invoice:in_test_alias')}`, headers: { authorization: `Bearer ${org.apiKey}` } })).json();
    expect(view).toMatchObject({ status: 'paid', amountPaid: 30_000 });
  });

  const orders = [
    { order: 'payment_intent.succeeded first (Stripe\'s usual order)', n: 1, listed: true },
    { order: 'payment_intent.succeeded first, before Stripe lists it under its invoice (linked by invoice.paid)', n: 2, listed: false },
    { order: 'invoice.paid first', n: 3, listed: true },
  ];
  for (const { order, n, listed } of orders) {
    it(`shows a card-paid invoice paid in the invoice service's view, and sends one receipt naming it: ${order}`, async () => {
      const t = Math.floor(Date.now() / 1000);
      const [invoiceId, intentId] = [`in_test_order${n}`, `pi_test_order${n}`];
      const finalized = event('invoice.finalized', { ...stripeFixture('invoice'), id: invoiceId, customer: customerId, status: 'open', amount_due: 50_000, amount_paid: 0, currency: 'usd' }, t);
      const paid = event('invoice.paid', { ...stripeFixture('invoice'), id: invoiceId, customer: customerId, status: 'paid', amount_due: 50_000, amount_paid: 50_000, currency: 'usd' }, t + 2);
      const succeeded = event('payment_intent.succeeded', { ...stripeFixture('payment_intent'), id: intentId, customer: customerId, status: 'succeeded', amount: 50_000, amount_received: 50_000, currency: 'usd', metadata: {} }, t + 1);
      if (listed) server.invoicePayments.set(invoiceId, intentId);
      const sequence = order.startsWith('payment_intent') ? [finalized, succeeded, paid] : [finalized, paid, succeeded];
      for (const e of sequence) {
        expect((await deliver(e)).statusCode).toBe(200);
        await p.settle();
        if (e === succeeded) server.invoicePayments.set(invoiceId, intentId); // listed by the time anything after it arrives
      }
      const id = deterministicUuid(`stripe-invoice:${invoiceId}`);
      const invoice = (await p.app.inject({ url: `/v1/invoices/${id}`, headers: { authorization: `Bearer ${org.apiKey}` } })).json();
      expect(invoice).toMatchObject({ status: 'paid', amountPaid: 50_000, amountRemaining: 0 });
      const payments = (await p.app.inject({ url: '/v1/payments', headers: { authorization: `Bearer ${org.apiKey}` } })).json().data;
      expect(payments.filter((x: { invoiceId: string }) => x.invoiceId === id)).toEqual([expect.objectContaining({ id: intentId, invoiceId: id, amount: 50_000 })]);
      // Delivered again, nothing counts twice.
      for (const e of sequence) await deliver(e);
      await p.settle();
      expect((await p.app.inject({ url: `/v1/invoices/${id}`, headers: { authorization: `Bearer ${org.apiKey}` } })).json()).toMatchObject({ amountPaid: 50_000 });
      // One payment.received, naming the invoice (the e-mail and the webhook follow from it).
      const receipts: Record<string, unknown>[] = [];
      for await (const e of p.ctx.store.readAll({ filter: { types: ['notification.requested'] } })) {
        const d = e.data as { kind: string; data: Record<string, unknown> };
        if (d.kind === 'payment.received' && d.data['paymentId'] === intentId) receipts.push(d.data);
      }
      expect(receipts).toEqual([expect.objectContaining({ invoiceId: id, invoiceNumber: invoice.number, amount: 50_000, amountRemaining: 0 })]);
    });
  }

  it('refunds a card payment through Stripe and reports provider refusals as 502', async () => {
    const t = Math.floor(Date.now() / 1000);
    await deliver(event('payment_intent.succeeded', { ...stripeFixture('payment_intent'), id: 'pi_test_refund', customer: customerId, status: 'succeeded', amount: 50_000, amount_received: 50_000, currency: 'usd', metadata: {} }, t));
    await p.settle();
    const refund = (payload: Record<string, unknown>, token = TEST_ADMIN_TOKEN) =>
      p.app.inject({ method: 'POST', url: '/v1/admin/payments/pi_test_refund/refunds', headers: { authorization: `Bearer ${token}`, 'idempotency-key': JSON.stringify(payload) }, payload });
    const ok = await refund({ amount: 20_000 });
    expect(ok.statusCode, ok.body).toBe(202);
    expect(ok.json()).toMatchObject({ refundId: expect.stringMatching(/^re_/), amount: 20_000 });
    const [sent] = server.requestsTo('POST', '/v1/refunds');
    // Stripe is asked by the outbox, with the key of the intent event already in our log.
    const intents: string[] = [];
    for await (const e of p.ctx.store.readStream('payment-pi_test_refund')) if (e.type === 'billing.refund.requested') intents.push(e.id);
    expect(sent).toMatchObject({ form: { payment_intent: 'pi_test_refund', amount: '20000' }, idempotencyKey: `refund:${intents[0]}` });
    // The same request retried (same Idempotency-Key): no second intent, no second call at Stripe.
    expect((await refund({ amount: 20_000 })).statusCode).toBe(202);
    expect(server.requestsTo('POST', '/v1/refunds')).toHaveLength(1);
    expect((await refund({ amount: 60_000 })).statusCode).toBe(422);
    server.failNext('POST', /^\/v1\/refunds$/, 400);
    const refused = await refund({ amount: 1_000 });
    expect(refused.statusCode).toBe(502);
    expect(refused.json().code).toBe('payment_provider_error');
    // A customer never moves money: its own owner key cannot refund, and the old customer route is gone.
    expect((await refund({ amount: 1 }, org.apiKey)).statusCode).toBe(401);
    expect((await p.app.inject({ method: 'POST', url: '/v1/payments/pi_test_refund/refunds', headers: { authorization: `Bearer ${org.apiKey}` }, payload: { amount: 1 } })).statusCode).toBe(404);
    expect((await p.app.inject({ method: 'POST', url: '/v1/admin/payments/pi_nope/refunds', headers: admin, payload: {} })).statusCode).toBe(404);
  });

  it('starts a card subscription incomplete and activates it when Stripe says it is paid', async () => {
    const other = await p.createOrganization('Shelbyville', { currency: 'USD', timeZone: 'UTC' });
    const res = await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: { authorization: `Bearer ${other.apiKey}` }, payload: { planId: 'starter', seats: 2, collectionMethod: 'charge_automatically' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ status: 'incomplete', provider: 'stripe' });
    const stripeSub = server.subscriptions.get(res.json().providerSubscriptionId)!;
    expect(server.requestsTo('POST', '/v1/subscriptions').at(-1)!.form).toMatchObject({ collection_method: 'charge_automatically', payment_behavior: 'default_incomplete' });
    await deliver(event('customer.subscription.updated', { ...stripeSub, status: 'active' }, Math.floor(Date.now() / 1000)));
    await p.settle();
    const view = (await p.app.inject({ url: '/v1/subscription', headers: { authorization: `Bearer ${other.apiKey}` } })).json();
    expect(view).toMatchObject({ status: 'active', seats: 2, planId: 'starter' });
  });

  it('takes a schedule\'s cancellation (cancel_at at the period\'s end, cancel_at_period_end false) as canceling at period end, and its clearing as a reactivation', async () => {
    const t = Math.floor(Date.now() / 1000);
    const end = (stripeSubscription['items'] as { data: { current_period_end: number }[] }).data[0]!.current_period_end;
    await deliver(event('customer.subscription.updated', subscriptionAt({ status: 'active', schedule: 'sub_sched_test', cancel_at_period_end: false, cancel_at: end }, 3), t + 10));
    await p.settle();
    expect(await subscriptionView()).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
    // Released in Stripe's dashboard, say: the cancel date is gone, and so is the cancellation.
    await deliver(event('customer.subscription.updated', subscriptionAt({ status: 'active', schedule: null, cancel_at_period_end: false, cancel_at: null }, 3), t + 20));
    await p.settle();
    expect(await subscriptionView()).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
  });

  it('never lets a stale subscription event overwrite newer state', async () => {
    const t = Math.floor(Date.now() / 1000);
    await deliver(event('customer.subscription.updated', subscriptionAt({ status: 'past_due' }, 4), t + 20));
    await deliver(event('customer.subscription.updated', subscriptionAt({ status: 'active' }, 9), t + 10));
    await p.settle();
    expect(await subscriptionView()).toMatchObject({ seats: 4, status: 'past_due' });
    await deliver(event('customer.subscription.updated', subscriptionAt({ status: 'active' }, 4), t + 30));
    await deliver(event('customer.subscription.deleted', subscriptionAt({ status: 'canceled' }, 4), t + 40));
    await p.settle();
    expect((await subscriptionView()).status).toBe('canceled');
  });

  it('recovers missed deliveries from its own checkpoint, however new the last webhook was', async () => {
    const t = Math.floor(Date.now() / 1000);
    const reconcile = async () => {
      const res = await p.app.inject({ method: 'POST', url: '/v1/admin/stripe/reconcile', headers: admin });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const delivered = event('customer.subscription.updated', subscriptionAt({ status: 'active' }, 4), t - 100);
    const missed = event('customer.subscription.updated', subscriptionAt({ status: 'active' }, 6), t - 50);
    server.events = [delivered, missed];
    await deliver(delivered);
    // A first pass covers Stripe's 30 days.
    expect(await reconcile()).toMatchObject({ seen: 2, stored: 1 });
    expect(Number(server.requestsTo('GET', '/v1/events')[0]!.query['created[gte]'])).toBeLessThanOrEqual(t - 30 * 86_400 + 5);
    await p.settle();
    expect((await subscriptionView()).seats).toBe(6);
    // A webhook newer than an event missed after the pass does not narrow the next pass.
    const missedAgain = event('customer.subscription.updated', subscriptionAt({ status: 'active', cancel_at_period_end: true }, 6), t + 5);
    const newest = event('customer.subscription.updated', subscriptionAt({ status: 'active', cancel_at_period_end: true }, 8), t + 3_000);
    server.events = [delivered, missed, missedAgain, newest];
    await deliver(newest);
    const second = await reconcile();
    expect(second).toMatchObject({ stored: 1 });
    expect(Number(server.requestsTo('GET', '/v1/events')[1]!.query['created[gte]'])).toBeLessThan(t + 5);
    expect(await p.ctx.readStore.loadCheckpoint('billing.stripe-reconciliation')).toBe(String(second.until));
  });

  for (const seed of [1, 2]) {
    it(`mirrors Stripe's invoices in /v1/invoices: Stripe's number and amounts, paid, void or uncollectible as Stripe says, whatever the order (order ${seed})`, async () => {
      const t = Math.floor(Date.now() / 1000);
      const line = { ...(stripeFixture('invoice')['lines'] as { data: Record<string, unknown>[] }).data[0]!, amount: 1_080_000, quantity: 3, description: 'City (annual) × 3', period: { start: t, end: t + 31_536_000 }, pricing: { type: 'price_details', unit_amount_decimal: '360000' } };
      const mirrored = (id: string, number: string, status: string, extra: Record<string, unknown> = {}) => ({
        ...stripeFixture('invoice'), id, number, customer: customerId, status, currency: 'usd', collection_method: 'send_invoice', lines: { object: 'list', data: [line], has_more: false },
        subtotal: 1_080_000, total: 1_169_100, total_taxes: [{ amount: 89_100, taxable_amount: 1_080_000, tax_behavior: 'exclusive', taxability_reason: 'standard_rated', type: 'tax_rate_details' }],
        amount_due: 1_169_100, amount_paid: status === 'paid' ? 1_169_100 : 0, due_date: t + 2_592_000, created: t, status_transitions: { finalized_at: t + 1, paid_at: null, voided_at: null, marked_uncollectible_at: null },
        custom_fields: [{ name: 'PO number', value: 'PO-7781' }], ...extra,
      });
      const events = [
        event('invoice.created', mirrored('in_test_mirror', 'A1B2C3D4-0001', 'draft'), t + 1),
        event('invoice.finalized', mirrored('in_test_mirror', 'A1B2C3D4-0001', 'open'), t + 2),
        event('invoice.paid', mirrored('in_test_mirror', 'A1B2C3D4-0001', 'paid'), t + 3),
        event('invoice.finalized', mirrored('in_test_gone', 'A1B2C3D4-0002', 'open'), t + 2),
        event('invoice.voided', mirrored('in_test_gone', 'A1B2C3D4-0002', 'void'), t + 3),
        event('invoice.marked_uncollectible', mirrored('in_test_lost', 'A1B2C3D4-0003', 'uncollectible'), t + 3),
      ];
      for (const e of shuffled([...events, ...events], seed)) expect((await deliver(e)).statusCode).toBe(200);
      await p.settle();
      const key = { authorization: `Bearer ${org.apiKey}` };
      const invoices = (await p.app.inject({ url: '/v1/invoices', headers: key })).json().data as { id: string; number: string; status: string; total: number; tax: { amount: number; rateBasisPoints: number }; amountPaid: number; amountRemaining: number; poNumber: string; lines: { quantity: number; unitAmount: number; amount: number }[] }[];
      const byNumber = Object.fromEntries(invoices.map((i) => [i.number, i]));
      expect(byNumber['A1B2C3D4-0001']).toMatchObject({ status: 'paid', total: 1_169_100, amountPaid: 1_169_100, amountRemaining: 0, poNumber: 'PO-7781', tax: { amount: 89_100, rateBasisPoints: 825 }, lines: [{ quantity: 3, unitAmount: 360_000, amount: 1_080_000 }] });
      expect(byNumber['A1B2C3D4-0002']).toMatchObject({ status: 'void' });
      expect(byNumber['A1B2C3D4-0003']).toMatchObject({ status: 'uncollectible' });
      // Stripe collects them: no receivable of ours, and the operator corrects them in Stripe, not here.
      expect(await p.ctx.readStore.get(C.receivables, byNumber['A1B2C3D4-0001']!.id)).toBeNull();
      const voided = await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${byNumber['A1B2C3D4-0001']!.id}/void`, headers: admin, payload: { reason: 'test' } });
      expect(voided.statusCode).toBe(409);
      expect(voided.json().detail).toMatch(/Stripe/);
      // Nothing failed along the way (billing has no receivable to void for them: not an error).
      expect(await p.ctx.readStore.count(DEAD_LETTERS, {})).toBe(0);
    });
  }
});
