import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StripeTestServer, stripeFixture } from '@curbmap/billing/testing';
import { kafkaUnavailable, startPrivateBroker, type PrivateBroker } from '@curbmap/infra';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/infra';
import { ADMIN, start, stop, type Started } from './processes.fixture.ts';

// Distributed mode for real: the gateway and the four services as separate processes, PostgreSQL shared, events
// relayed through the Kafka broker. Nothing here is a mock.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const unavailable = postgresUnavailable() ?? kafkaUnavailable();
if (unavailable) {
  describe('services in their own processes', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  let cluster: PrivateCluster;
  let broker: PrivateBroker;
  beforeAll(async () => {
    [cluster, broker] = await Promise.all([startPrivateCluster(), startPrivateBroker()]);
  }, 120_000);
  afterAll(async () => {
    await broker?.stop();
    await cluster?.stop();
  }, 60_000);

  describe('services in their own processes (PostgreSQL, Kafka)', () => {
    const services: Record<string, Started> = {};
    let gateway: Started | null = null;
    // Made when the suite runs (not when it is collected): a suite filtered out leaves nothing behind.
    let dataDir = '';
    const secret = randomBytes(32).toString('hex');
    let env: Record<string, string>;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'curbmap-distributed-'));
      const databaseUrl = (await createDatabase(cluster.url)).url;
      env = { DATABASE_URL: databaseUrl, KAFKA_BROKERS: broker.brokers.join(','), CURBMAP_INTERNAL_SECRET: secret, CURBMAP_DATA_DIR: dataDir };
      for (const name of ['billing', 'usage', 'export', 'invoice']) services[name] = await start(`services/${name}/src/main.ts`, { ...env, PORT: '0' }, /curbmap service listening at (\S+)/);
      const urls = Object.entries(services).map(([name, s]) => `${name}=${s.url}`).join(',');
      gateway = await start('services/gateway/src/main.ts', { ...env, PORT: '0', HOST: '127.0.0.1', CURBMAP_ADMIN_TOKEN: ADMIN, SERVICE_URLS: urls }, /CurbMap is running at (\S+)/);
    }, 400_000);
    afterAll(async () => {
      await Promise.all([stop(gateway), ...Object.values(services).map(stop)]);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);

    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(new URL(path, gateway!.url), { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: () => JSON.parse(text) as Record<string, unknown> & { total?: number }, text };
    };

    it('subscribe → invoice → usage → operator payment → paid → invoices exported as CSV, each service in its own process', async () => {
      const admin = ADMIN;
      const org = (await call('POST', '/v1/organizations', admin, { name: 'Ogdenville', billingEmail: 'ap@ogdenville.example', timeZone: 'America/Chicago' })).json() as { id: string; apiKey: string };
      const project = (await call('POST', '/v1/projects', org.apiKey, { name: 'Main Street' })).json().id as string;
      // Billing's process takes the subscription; the invoice process invoices the activation from Kafka.
      const subscribed = await call('POST', '/v1/subscription', org.apiKey, { planId: 'city', seats: 2 });
      expect(subscribed.status, subscribed.text).toBe(201);
      const invoices = async () => (await call('GET', '/v1/invoices', org.apiKey)).json().data as { id: string; number: string; total: number; status: string }[];
      await expect.poll(async () => (await invoices()).length, { timeout: 30_000, interval: 250 }).toBe(1);
      const [fee] = await invoices();
      expect(fee).toMatchObject({ number: expect.stringMatching(/^CM-\d{4}-000001$/), total: 720_000, status: 'open' });

      expect((await call('POST', '/v1/meters', org.apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' })).status).toBe(201);
      expect((await call('POST', '/v1/usage/events', org.apiKey, Array.from({ length: 5 }, (_, i) => ({ id: `w${i}`, type: 'hit', projectId: project, data: {} })))).json().accepted).toBe(5);

      // The operator records the bank transfer (billing); the invoice shows paid (invoice, from billing's events).
      // Billing learns of the invoice from Kafka too: until it has, the invoice is not found there (nothing written; safe to retry).
      const record = () => call('POST', `/v1/admin/invoices/${fee!.id}/payments`, admin, { amount: 720_000, currency: 'USD', reference: 'ACH-1', receivedAt: new Date().toISOString() });
      await expect.poll(async () => (await record()).status, { timeout: 30_000, interval: 250 }).toBe(201);
      await expect.poll(async () => (await invoices())[0]!.status, { timeout: 30_000, interval: 250 }).toBe('paid');

      // The export process writes the CSV; its download link is signed and served through the gateway.
      const started = await call('POST', '/v1/exports', org.apiKey, { dataset: 'invoices', format: 'csv' });
      expect(started.status, started.text).toBe(202);
      const id = started.json().id as string;
      await expect.poll(async () => (await call('GET', `/v1/exports/${id}`, org.apiKey)).json().status, { timeout: 30_000, interval: 250 }).toBe('completed');
      const link = await fetch(new URL(`/v1/exports/${id}/download`, gateway!.url), { headers: { authorization: `Bearer ${org.apiKey}` }, redirect: 'manual' });
      expect(link.status).toBe(302);
      const csv = await (await fetch(new URL(link.headers.get('location')!, gateway!.url))).text();
      const rows = csv.trim().split('\r\n').map((r) => r.split(','));
      expect(rows.slice(1).map((r) => [r[1], r[2], r[4]])).toEqual([[fee!.number, 'paid', '720000']]);
    }, 120_000);

    it('an over-payment becomes credit that settles the organization\'s other open invoice, from Kafka', async () => {
      const org = (await call('POST', '/v1/organizations', ADMIN, { name: 'North Haverbrook', billingEmail: 'ap@haverbrook.example', timeZone: 'America/Chicago' })).json() as { id: string; apiKey: string };
      expect((await call('POST', '/v1/subscription', org.apiKey, { planId: 'city', seats: 1 })).status).toBe(201);
      const invoices = async () => (await call('GET', '/v1/invoices', org.apiKey)).json().data as { id: string; total: number; status: string; amountRemaining: number; issuedAt: string }[];
      await expect.poll(async () => (await invoices()).length, { timeout: 30_000, interval: 250 }).toBe(1);
      expect((await call('PATCH', '/v1/subscription', org.apiKey, { seats: 2 })).status).toBe(200);
      await expect.poll(async () => (await invoices()).length, { timeout: 30_000, interval: 250 }).toBe(2);
      const [annual, proration] = (await invoices()).sort((a, b) => a.issuedAt.localeCompare(b.issuedAt) || b.total - a.total);
      // Billing must know both invoices before the payment (it learns of them from Kafka).
      const pay = () => call('POST', `/v1/admin/invoices/${annual!.id}/payments`, ADMIN, { amount: annual!.total + proration!.total, currency: 'USD', reference: 'WIRE-ALL', receivedAt: new Date().toISOString() });
      await expect.poll(async () => (await pay()).status, { timeout: 30_000, interval: 250 }).toBe(201);
      const started = Date.now();
      await expect.poll(async () => (await invoices()).map((i) => i.status).sort(), { timeout: 15_000, interval: 250 }).toEqual(['paid', 'paid']);
      // Settled in seconds, not after a wait for a stream that is never written.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await call('GET', '/v1/credit-balance', org.apiKey)).json()).toEqual({ balances: { USD: 0 } });
      const parked = (await call('GET', '/v1/admin/dead-letters', ADMIN)).json().data as unknown[];
      expect(parked).toEqual([]);
    }, 120_000);

    it('usage through the gateway: the usage process applies it from Kafka and answers its routes; a request that skips the gateway is refused', async () => {
      const org = (await call('POST', '/v1/organizations', ADMIN, { name: 'City of Springfield', billingEmail: 'ap@springfield.example', timeZone: 'America/Chicago' })).json() as { id: string; apiKey: string };
      const project = (await call('POST', '/v1/projects', org.apiKey, { name: 'Downtown' })).json().id as string;
      // Forwarded to the usage process; its answer (and its read-your-writes) come from there.
      const meter = await call('POST', '/v1/meters', org.apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' });
      expect(meter.status, meter.text).toBe(201);
      const events = Array.from({ length: 50 }, (_, i) => ({ id: `e${i}`, type: 'hit', projectId: project, data: {} }));
      expect((await call('POST', '/v1/usage/events', org.apiKey, events)).json()).toMatchObject({ accepted: 50, duplicates: [] });
      const again = (await call('POST', '/v1/usage/events', org.apiKey, events)).json() as { accepted: number; duplicates: unknown[] };
      expect([again.accepted, again.duplicates.length]).toEqual([0, 50]);
      const window = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
      await expect.poll(async () => (await call('GET', `/v1/usage/summary?meter=hits&${window}`, org.apiKey)).json().total, { timeout: 30_000, interval: 200 }).toBe(50);

      // An Idempotency-Key on a forwarded command: the first answer is kept and replayed; the key with another body is refused.
      const idem = (body: unknown) => fetch(new URL('/v1/meters', gateway!.url), { method: 'POST', headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json', 'idempotency-key': 'meter-visits-1' }, body: JSON.stringify(body) });
      const visits = { key: 'visits', name: 'Visits', eventType: 'visit', aggregation: 'count' };
      const [first, retry] = [await idem(visits), await idem(visits)];
      expect([first.status, retry.status, retry.headers.get('idempotent-replayed')]).toEqual([201, 201, 'true']);
      expect(await retry.text()).toBe(await first.text());
      const reused = await idem({ ...visits, name: 'Other' });
      expect(reused.status).toBe(422);

      // Validation, roles and tenancy are the gateway's: a bad body never reaches the service.
      const bad = await call('POST', '/v1/meters', org.apiKey, { key: 'x' });
      expect(bad.status).toBe(400);
      expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const other = (await call('POST', '/v1/organizations', ADMIN, { name: 'Shelbyville', billingEmail: 'ap@shelbyville.example' })).json() as { apiKey: string };
      expect((await call('GET', `/v1/usage/summary?meter=hits&${window}`, other.apiKey)).status).toBe(404);

      // The usage process answers only what the gateway signed.
      const direct = await fetch(new URL('/v1/meters', services['usage']!.url), { headers: { authorization: `Bearer ${org.apiKey}` } });
      expect(direct.status).toBe(401);
      expect(((await direct.json()) as { detail: string }).detail).toMatch(/forwarded by the gateway/);
    }, 120_000);

    it('a curb import streams through the gateway to the export process in signed frames, and is served from there', async () => {
      const org = (await call('POST', '/v1/organizations', ADMIN, { name: 'Capital City', billingEmail: 'ap@capital.example', timeZone: 'America/Chicago' })).json() as { id: string; apiKey: string };
      const project = (await call('POST', '/v1/projects', org.apiKey, { name: 'Downtown' })).json().id as string;
      const body = readFileSync(join(repoRoot, 'services/export/testdata/cds/examples/curbs_02_curb_policies.json'));
      // Streamed from a ReadableStream (no Content-Length): the gateway neither holds it whole nor hashes it first.
      const res = await fetch(new URL(`/v1/projects/${project}/curbs/import`, gateway!.url), { method: 'POST', headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json' }, body: Readable.toWeb(Readable.from([body.subarray(0, 100), body.subarray(100)])) as ReadableStream, duplex: 'half' } as RequestInit);
      const text = await res.text();
      expect(res.status, text).toBe(201);
      expect(JSON.parse(text)).toMatchObject({ source: 'cds', counts: { policies: 3 } });
      await expect.poll(async () => (await call('GET', '/cds/1.1/curbs/policies/cd0996d7-3765-4f0b-a72e-7caf7cf3fe21', org.apiKey)).status, { timeout: 30_000, interval: 200 }).toBe(200);
    }, 120_000);

    it('a usage process killed with SIGKILL and started again: nothing acknowledged is lost, nothing counted twice', async () => {
      const org = (await call('POST', '/v1/organizations', ADMIN, { name: 'Capital City', billingEmail: 'ap@capital.example' })).json() as { id: string; apiKey: string };
      const project = (await call('POST', '/v1/projects', org.apiKey, { name: 'Center' })).json().id as string;
      expect((await call('POST', '/v1/meters', org.apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' })).status).toBe(201);
      const batch = (from: number) => Array.from({ length: 100 }, (_, i) => ({ id: `k${from + i}`, type: 'hit', projectId: project, data: {} }));
      for (let b = 0; b < 5; b++) expect((await call('POST', '/v1/usage/events', org.apiKey, batch(b * 100))).status).toBe(200);
      services['usage']!.child.kill('SIGKILL');
      await new Promise((r) => services['usage']!.child.once('exit', r));
      // Meanwhile the gateway answers 503 with Retry-After: a client's retry is safe (its ids make it idempotent).
      const down = await call('POST', '/v1/usage/events', org.apiKey, batch(500));
      expect([down.status, down.headers.get('retry-after'), down.headers.get('content-type')]).toEqual([503, '1', 'application/problem+json']);
      const port = new URL(services['usage']!.url).port;
      services['usage'] = await start('services/usage/src/main.ts', { ...env, PORT: port }, /curbmap service listening at (\S+)/);
      for (let b = 5; b < 10; b++) expect((await call('POST', '/v1/usage/events', org.apiKey, batch(b * 100))).status).toBe(200);
      const window = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
      // Its consumer group takes the partitions back once the killed member's session has expired.
      await expect.poll(async () => (await call('GET', `/v1/usage/summary?meter=hits&${window}`, org.apiKey)).json().total, { timeout: 60_000, interval: 500 }).toBe(1000);
    }, 120_000);
  });

  describe('Stripe webhooks through the gateway to the billing process', () => {
    let dataDir = '';
    const webhookSecret = 'whsec_curbmap_distributed';
    const stripe = new StripeTestServer();
    let billing: Started | null = null;
    let gateway: Started | null = null;
    let env: Record<string, string>;

    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'curbmap-distributed-stripe-'));
      const apiBase = await stripe.start();
      env = { DATABASE_URL: (await createDatabase(cluster.url)).url, KAFKA_BROKERS: broker.brokers.join(','), CURBMAP_INTERNAL_SECRET: randomBytes(32).toString('hex'), CURBMAP_DATA_DIR: dataDir, STRIPE_SECRET_KEY: 'sk_test_curbmap', STRIPE_WEBHOOK_SECRET: webhookSecret, STRIPE_API_BASE: apiBase };
      billing = await start('services/billing/src/main.ts', { ...env, PORT: '0' }, /curbmap service listening at (\S+)/);
      gateway = await start('services/gateway/src/main.ts', { ...env, PORT: '0', HOST: '127.0.0.1', CURBMAP_ADMIN_TOKEN: ADMIN, SERVICE_URLS: `billing=${billing.url}` }, /CurbMap is running at (\S+)/);
    }, 120_000);
    afterAll(async () => {
      await Promise.all([stop(gateway), stop(billing)]);
      await stripe.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }, 60_000);

    it('verified by the billing process on the exact bytes, stored before the 200, once; published to Kafka by the relay', async () => {
      const event = { ...stripeFixture('event'), id: 'evt_distributed0001', type: 'customer.created', created: Math.floor(Date.now() / 1000), data: { object: stripeFixture('customer') } };
      const payload = JSON.stringify(event);
      const deliver = (signature: string) => fetch(new URL('/webhooks/stripe', gateway!.url), { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body: payload });
      const signed = Stripe.webhooks.generateTestHeaderString({ payload, secret: webhookSecret });
      const first = await deliver(signed);
      expect([first.status, await first.json()]).toEqual([200, { received: true, duplicate: false }]);
      const again = await deliver(signed);
      expect(await again.json()).toEqual({ received: true, duplicate: true });
      const forged = await deliver(Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_someone_else' }));
      expect([forged.status, ((await forged.json()) as { code: string }).code]).toEqual([400, 'invalid_signature']);

      // The stored event reaches its topic through the relay (the gateway's process).
      const kafka = new Kafka({ clientId: 'distributed-test', brokers: broker.brokers, logLevel: logLevel.NOTHING });
      const consumer = kafka.consumer({ groupId: `check-${randomBytes(4).toString('hex')}` });
      await consumer.connect();
      await consumer.subscribe({ topics: ['curbmap.stripeevent'], fromBeginning: true });
      const seen: string[] = [];
      await consumer.run({ eachMessage: async ({ message }) => void seen.push((JSON.parse(message.value!.toString()) as { streamId: string }).streamId) });
      await expect.poll(() => seen, { timeout: 30_000 }).toContain('stripeevent-evt_distributed0001');
      await consumer.disconnect();
      expect(seen.filter((k) => k === 'stripeevent-evt_distributed0001')).toHaveLength(1);
    }, 60_000);

    it('a dead letter the billing process parked is retried there through the gateway\'s admin route', async () => {
      const admin = { authorization: `Bearer ${ADMIN}` };
      const org = (await (await fetch(new URL('/v1/organizations', gateway!.url), { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Cypress Creek', billingEmail: 'ap@cypress.example' }) })).json()) as { id: string };
      // A payment of a customer Stripe knows but that names no organization yet: billing cannot apply it, parks it.
      stripe.customers.set('cus_test_later', { ...stripeFixture('customer'), id: 'cus_test_later', metadata: {} });
      const event = { ...stripeFixture('event'), id: 'evt_distributed_parked', type: 'payment_intent.succeeded', created: Math.floor(Date.now() / 1000), data: { object: { ...stripeFixture('payment_intent'), id: 'pi_test_parked', customer: 'cus_test_later', amount: 5_000, amount_received: 5_000, currency: 'usd', status: 'succeeded', metadata: {} } } };
      const payload = JSON.stringify(event);
      expect((await fetch(new URL('/webhooks/stripe', gateway!.url), { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: webhookSecret }) }, body: payload })).status).toBe(200);
      const parked = async () => ((await (await fetch(new URL('/v1/admin/dead-letters', gateway!.url), { headers: admin })).json()) as { data: { id: string; subscription: string; eventType: string }[] }).data;
      await expect.poll(async () => (await parked()).map((d) => d.subscription), { timeout: 60_000, interval: 500 }).toContain('billing.stripe-sync.v1');
      const [letter] = (await parked()).filter((d) => d.subscription === 'billing.stripe-sync.v1');
      const retry = () => fetch(new URL(`/v1/admin/dead-letters/${encodeURIComponent(letter!.id)}/retry`, gateway!.url), { method: 'POST', headers: admin });
      // Run in the billing process (not refused as "not running here"): it fails again while the customer is unknown…
      const again = await retry();
      expect([again.status, ((await again.json()) as { detail: string }).detail]).toEqual([409, expect.stringMatching(/failed again: .*no organization we know/)]);
      // …and is resolved once it is known.
      (stripe.customers.get('cus_test_later')!['metadata'] as Record<string, string>)['organizationId'] = org.id;
      const resolved = await retry();
      expect([resolved.status, ((await resolved.json()) as { status: string }).status]).toEqual([200, 'resolved']);
    }, 120_000);
  });
}
