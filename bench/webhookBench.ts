import { Agent, request } from 'node:http';
import Stripe from 'stripe';
import { StripeTestServer } from '../services/billing/src/adapters/stripe/stripeTestServer.fixture.ts';
import { BENCH_ADMIN as ADMIN, startPlatformProcess } from './platformProcess.ts';
import type { Figure } from './report.ts';

const SECRET = 'whsec_bench_secret';
const agent = new Agent({ keepAlive: true, maxSockets: 128 });

function post(port: number, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function get(port: number, path: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    })
      .on('error', reject)
      .end();
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** The platform in its own process (as `make up` runs it), webhooks sent open-loop at a fixed rate. */
export async function webhookBench(scale: number): Promise<Figure[]> {
  const rate = 500;
  const seconds = Math.max(2, Math.round(20 * scale));
  // Billing asks Stripe which invoice a PaymentIntent paid: a local stand-in answers (none, for these payments).
  const stripe = new StripeTestServer();
  const stripeUrl = await stripe.start();
  const { port, stop } = await startPlatformProcess('webhooks', { STRIPE_SECRET_KEY: 'sk_test_bench', STRIPE_API_BASE: stripeUrl, STRIPE_WEBHOOK_SECRET: SECRET });
  try {
    const org = JSON.parse((await post(port, '/v1/organizations', JSON.stringify({ name: 'Bench City', billingEmail: 'ap@bench.example' }), { authorization: `Bearer ${ADMIN}` })).body) as { id: string; apiKey: string };

    // Every event a distinct payment; one in ten delivered twice, as Stripe does.
    const total = rate * seconds;
    const now = Math.floor(Date.now() / 1000);
    const unique = Math.round(total / 1.1);
    const payloads = Array.from({ length: unique }, (_, i) =>
      JSON.stringify({
        id: `evt_bench${String(i).padStart(8, '0')}`,
        object: 'event',
        type: 'payment_intent.succeeded',
        created: now,
        livemode: false,
        api_version: null,
        data: { object: { id: `pi_bench${String(i).padStart(8, '0')}`, object: 'payment_intent', amount: 1000 + i, amount_received: 1000 + i, currency: 'usd', status: 'succeeded', metadata: { organizationId: org.id } } },
      }),
    );
    const deliveries = Array.from({ length: total }, (_, i) => payloads[i < unique ? i : (i * 7919) % unique]!);
    const signed = deliveries.map((payload) => ({ payload, signature: Stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET }) }));

    const latencies: number[] = [];
    let errors = 0;
    let duplicates = 0;
    const started = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < signed.length; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const { payload, signature } = signed[i]!;
      const t0 = performance.now();
      inflight.push(
        post(port, '/webhooks/stripe', payload, { 'stripe-signature': signature }).then(
          (res) => {
            latencies.push(performance.now() - t0);
            if (res.status !== 200) errors += 1;
            else if (res.body.includes('"duplicate":true')) duplicates += 1;
          },
          () => void (errors += 1),
        ),
      );
    }
    await Promise.all(inflight);
    const achieved = signed.length / ((performance.now() - started) / 1000);

    // Applied once each: wait for the sync process, then count payments.
    let applied = 0;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      applied = (JSON.parse(await get(port, '/v1/payments', org.apiKey)) as { data: unknown[] }).data.length;
      if (applied >= unique) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    latencies.sort((a, b) => a - b);
    if (errors) throw new Error(`${errors} webhook deliveries failed`);
    if (applied !== unique || duplicates !== total - unique) throw new Error(`applied ${applied} of ${unique} events, ${duplicates} duplicates of ${total - unique}`);
    const detail = `${total} deliveries (${total - unique} duplicates) at ${Math.round(achieved)} req/s, platform in its own process; ${applied} payments applied once`;
    return [
      { name: 'Stripe webhook ingest p99 at 500 req/s', value: percentile(latencies, 99), unit: 'ms', target: { max: 50 }, detail },
      { name: 'Stripe webhook ingest p50 at 500 req/s', value: percentile(latencies, 50), unit: 'ms', detail: 'same run' },
    ];
  } finally {
    await stop();
    await stripe.close();
  }
}
