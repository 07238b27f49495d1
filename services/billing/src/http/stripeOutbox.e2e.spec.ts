import Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import type { PaymentProvider } from '../adapters/payment/paymentProvider.ts';
import { StripeTestServer, stripeFixture } from '../adapters/stripe/stripeTestServer.fixture.ts';
import { billingCollections as C, type PaymentView } from '../projections/billingProjections.ts';

const SECRET = 'whsec_curbmap_outbox_secret';
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
let server: StripeTestServer;
let p: TestPlatform;

async function start(wrapProvider?: (provider: PaymentProvider) => PaymentProvider) {
  server = new StripeTestServer();
  const apiBase = await server.start();
  p = await startTestPlatform({ modules: { stripe: { secretKey: 'sk_test_curbmap', apiBase }, stripeWebhookSecret: SECRET, ...(wrapProvider ? { wrapProvider } : {}) } });
  const org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
  await p.app.inject({ method: 'PUT', url: `/v1/admin/organizations/${org.id}/billing-terms`, headers: admin, payload: { collectionMethods: ['send_invoice', 'charge_automatically'], daysUntilDue: 30 } });
  return { ...org, headers: { authorization: `Bearer ${org.apiKey}` } };
}
afterEach(async () => {
  await p?.close();
  await server?.close();
});

let seq = 0;
function deliver(type: string, object: Record<string, unknown>, created = Math.floor(Date.now() / 1000)) {
  seq += 1;
  const payload = JSON.stringify({ ...stripeFixture('event'), id: `evt_outbox${String(seq).padStart(6, '0')}`, type, created, livemode: false, data: { object } });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });
  return p.app.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, payload });
}

async function streamTypes(streamId: string) {
  const types: string[] = [];
  for await (const e of p.ctx.store.readStream(streamId)) types.push(e.type);
  return types;
}

describe('Stripe calls go through the outbox', () => {
  it('calls Stripe from the intent in our log, with its id as the key; a crash after the call leaves nothing orphaned', async () => {
    let crashes = 1;
    const org = await start((provider) => ({
      ...provider,
      kind: provider.kind,
      startSubscription: async (input) => {
        const started = await provider.startSubscription(input);
        // The process dies after Stripe answered and before our log records it.
        if (crashes-- > 0) throw new Error('crash after the Stripe call');
        return started;
      },
      changeSubscription: (input) => provider.changeSubscription(input),
      cancelSubscription: (input) => provider.cancelSubscription(input),
      reactivateSubscription: (input) => provider.reactivateSubscription(input),
      createSetupIntent: (input) => provider.createSetupIntent(input),
      refund: (input) => provider.refund(input),
      paymentConfirmation: (input) => provider.paymentConfirmation(input),
    }));
    const res = await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'city', seats: 3, collectionMethod: 'send_invoice' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ status: 'active', provider: 'stripe', providerSubscriptionId: expect.stringMatching(/^sub_/) });
    // The replay finds what the first call made by our metadata (the key would answer the same within 24 hours):
    // one create, one subscription at Stripe, the one our log knows.
    const calls = server.requestsTo('POST', '/v1/subscriptions');
    expect(calls).toHaveLength(1);
    expect(server.requestsTo('GET', '/v1/subscriptions')).toHaveLength(2);
    expect([...server.subscriptions.keys()]).toEqual([res.json().providerSubscriptionId]);
    const events: { id: string; type: string }[] = [];
    for await (const e of p.ctx.store.readStream(`subscription-${org.id}`)) events.push(e);
    expect(events.map((e) => e.type)).toEqual(['billing.subscription.provider_requested', 'billing.subscription.activated', 'billing.subscription.provider_confirmed']);
    expect(calls[0]!.idempotencyKey).toBe(`start:${events[0]!.id}`);
  });

  it('answers a double submit once: one request in the log, one subscription at Stripe', async () => {
    const org = await start();
    const payload = { planId: 'city', seats: 3, collectionMethod: 'send_invoice' };
    const [a, b] = await Promise.all([
      p.app.inject({ method: 'POST', url: '/v1/subscription', headers: { ...org.headers, 'idempotency-key': 'submit-1' }, payload }),
      p.app.inject({ method: 'POST', url: '/v1/subscription', headers: { ...org.headers, 'idempotency-key': 'submit-2' }, payload }),
    ]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
    expect(server.subscriptions.size).toBe(1);
    expect((await streamTypes(`subscription-${org.id}`)).filter((t) => t === 'billing.subscription.provider_requested')).toHaveLength(1);
  });

  it('records a refusal as the outcome: 502 with Stripe\'s message, and no subscription', async () => {
    const org = await start();
    server.failNext('POST', /^\/v1\/subscriptions$/, 400);
    const res = await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'city', seats: 3, collectionMethod: 'send_invoice' } });
    expect(res.statusCode, res.body).toBe(502);
    expect(res.json().detail).toMatch(/refused/);
    await p.settle();
    expect((await p.app.inject({ url: '/v1/subscription', headers: org.headers })).statusCode).toBe(404);
    expect(await streamTypes(`subscription-${org.id}`)).toEqual(['billing.subscription.provider_requested', 'billing.subscription.provider_failed']);
    // The organization can try again.
    expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'city', seats: 3, collectionMethod: 'send_invoice' } })).statusCode).toBe(201);
  });

  it('starts a card subscription incomplete, hands back what SCA needs, and activates only on Stripe\'s word', async () => {
    const org = await start();
    const send = () => p.app.inject({ method: 'POST', url: '/v1/subscription', headers: { ...org.headers, 'idempotency-key': 'card-sub' }, payload: { planId: 'starter', seats: 2, collectionMethod: 'charge_automatically' } });
    const res = await send();
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ status: 'incomplete', paymentConfirmation: { clientSecret: expect.stringMatching(/_secret_/), type: 'payment_intent' } });
    // The client secret is not kept in our records: a retry asks Stripe again and lands on the same subscription.
    const records = await p.ctx.readStore.find<{ id: string; organizationId: string; body: string | null }>('idempotency_records', { organizationId: org.id });
    expect(records.map((r) => r.body)).toEqual([null]);
    const retried = await send();
    expect(retried.headers['idempotent-replayed']).toBe('true');
    expect(retried.json().paymentConfirmation.clientSecret).toBe(res.json().paymentConfirmation.clientSecret);
    expect(server.subscriptions.size).toBe(1);
    const again = await p.app.inject({ url: '/v1/subscription/payment-confirmation', headers: org.headers });
    expect(again.json().clientSecret).toBe(res.json().paymentConfirmation.clientSecret);
    await p.settle();
    expect((await p.app.inject({ url: '/v1/subscription', headers: org.headers })).json().status).toBe('incomplete');
    const stripeSub = server.subscriptions.get(res.json().providerSubscriptionId)!;
    await deliver('customer.subscription.updated', { ...stripeSub, status: 'active' });
    await p.settle();
    const active = (await p.app.inject({ url: '/v1/subscription', headers: org.headers })).json();
    expect(active.status, JSON.stringify(active)).toBe('active');
    expect((await p.app.inject({ url: '/v1/subscription/payment-confirmation', headers: org.headers })).statusCode).toBe(404);
  });

  it('leaves Stripe subscriptions to Stripe\'s clock: a decrease is scheduled for the period end, renewals are not ours', async () => {
    const org = await start();
    const created = (await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'city', seats: 3, collectionMethod: 'send_invoice' } })).json();
    const down = await p.app.inject({ method: 'PATCH', url: '/v1/subscription', headers: org.headers, payload: { seats: 2 } });
    expect(down.statusCode, down.body).toBe(200);
    expect(down.json().subscription).toMatchObject({ seats: 3, pendingChange: { seats: 2, effectiveAt: created.currentPeriodEnd } });
    expect(server.requestsTo('POST', `/v1/subscriptions/${created.providerSubscriptionId}`)).toEqual([]);
    expect(server.requestsTo('POST', /^\/v1\/subscription_schedules\//)[0]!.form).toMatchObject({ 'phases[1][items][0][quantity]': '2' });
    const later = new Date(Date.parse(created.currentPeriodEnd) + 86_400_000);
    expect(await p.modules.billing.scheduler!.tick(later)).toMatchObject({ renewed: 0 });
    expect((await p.app.inject({ url: '/v1/subscription', headers: org.headers })).json()).toMatchObject({ seats: 3, currentPeriodEnd: created.currentPeriodEnd });
  });
});

describe('Stripe events are never silently used up', () => {
  it('waits for the outbox when a webhook about a new subscription arrives first', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const org = await start((provider) => Object.assign(Object.create(Object.getPrototypeOf(provider)), provider, {
      startSubscription: async (input: Parameters<PaymentProvider['startSubscription']>[0]) => {
        const started = await provider.startSubscription(input);
        await gate; // Stripe has the subscription; our confirmation is slow to land
        return started;
      },
    }));
    const pending = p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'city', seats: 3, collectionMethod: 'send_invoice' } });
    while (server.subscriptions.size === 0) await new Promise((r) => setTimeout(r, 5));
    const [stripeSub] = [...server.subscriptions.values()];
    await deliver('customer.subscription.updated', { ...stripeSub, items: { ...(stripeSub!['items'] as object), data: [{ ...(stripeSub!['items'] as { data: Record<string, unknown>[] }).data[0], quantity: 4 }] } });
    await new Promise((r) => setTimeout(r, 100));
    release();
    expect((await pending).statusCode).toBe(201);
    await p.settle();
    // The early webhook was held until our log knew the subscription, then applied.
    expect((await p.app.inject({ url: '/v1/subscription', headers: org.headers })).json().seats).toBe(4);
  });

  it('finds the organization of an unknown customer through Stripe, and parks an event that belongs to nobody', async () => {
    const org = await start();
    await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'city', seats: 3, collectionMethod: 'send_invoice' } });
    // A customer only Stripe knows yet (our link is missing), carrying our metadata.
    server.customers.set('cus_unlinked', { ...stripeFixture('customer'), id: 'cus_unlinked', metadata: { organizationId: org.id } });
    await deliver('payment_intent.succeeded', { ...stripeFixture('payment_intent'), id: 'pi_unlinked', customer: 'cus_unlinked', status: 'succeeded', amount: 1_000, amount_received: 1_000, currency: 'usd', metadata: {} });
    server.customers.set('cus_stranger', { ...stripeFixture('customer'), id: 'cus_stranger', metadata: {} });
    await deliver('payment_intent.succeeded', { ...stripeFixture('payment_intent'), id: 'pi_stranger', customer: 'cus_stranger', status: 'succeeded', amount: 2_000, amount_received: 2_000, currency: 'usd', metadata: {} });
    await p.settle();
    expect(await p.ctx.readStore.get<PaymentView>(C.payments, 'pi_unlinked')).toMatchObject({ organizationId: org.id, amount: 1_000 });
    const parked = (await p.app.inject({ url: '/v1/admin/dead-letters', headers: admin })).json().data;
    expect(parked).toMatchObject([{ subscription: 'billing.stripe-sync.v1', error: expect.stringMatching(/belongs to no organization/) }]);
  }, 20_000);

  it('counts one charge once: invoice.paid, invoice_payment.paid and payment_intent.succeeded are one payment, linked to the invoice', async () => {
    const org = await start();
    const sub = (await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'starter', seats: 2, collectionMethod: 'charge_automatically' } })).json();
    const customer = server.subscriptions.get(sub.providerSubscriptionId)!['customer'];
    server.invoicePayments.set('in_first', 'pi_first');
    const invoice = { ...stripeFixture('invoice'), id: 'in_first', customer, status: 'paid', amount_due: 240_000, amount_paid: 240_000, currency: 'usd' };
    expect('payment_intent' in invoice).toBe(false); // the current Invoice object does not name its PaymentIntent
    await deliver('invoice.paid', invoice);
    await deliver('invoice_payment.paid', { ...stripeFixture('invoice_payment'), id: 'inpay_1', invoice: 'in_first', amount_paid: 240_000, currency: 'usd', status: 'paid', payment: { type: 'payment_intent', payment_intent: 'pi_first' } });
    await deliver('payment_intent.succeeded', { ...stripeFixture('payment_intent'), id: 'pi_first', customer, status: 'succeeded', amount: 240_000, amount_received: 240_000, currency: 'usd', metadata: {} });
    // A failed attempt on another invoice is recorded under its PaymentIntent too.
    server.invoicePayments.set('in_second', 'pi_second');
    await deliver('invoice.payment_failed', { ...invoice, id: 'in_second', status: 'open', amount_paid: 0 });
    await p.settle();
    expect((await p.app.inject({ url: '/v1/admin/dead-letters', headers: admin })).json().data).toEqual([]);
    const payments = (await p.app.inject({ url: '/v1/payments', headers: org.headers })).json().data;
    expect(payments.map((x: PaymentView) => [x.id, x.status, x.amount]).sort()).toEqual([['pi_first', 'succeeded', 240_000], ['pi_second', 'failed', 240_000]]);
    expect(payments.find((x: PaymentView) => x.id === 'pi_first').invoiceId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
