// A local stand-in for api.stripe.com: records and checks every request the official client makes, and answers
// with object shapes from Stripe's own OpenAPI fixtures (testdata/stripeFixtures.json).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

const fixtures = JSON.parse(readFileSync(new URL('./testdata/stripeFixtures.json', import.meta.url), 'utf8')).resources as Record<string, Record<string, unknown>>;
export const stripeFixture = (name: string): Record<string, unknown> => structuredClone(fixtures[name]!);

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  form: Record<string, string>;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
  stripeVersion: string | undefined;
}

type Handler = (req: RecordedRequest, params: string[]) => { status?: number; body: unknown };

export class StripeTestServer {
  readonly requests: RecordedRequest[] = [];
  readonly subscriptions = new Map<string, Record<string, unknown>>();
  readonly customers = new Map<string, Record<string, unknown>>();
  readonly schedules = new Map<string, Record<string, unknown>>();
  readonly refunds: Record<string, unknown>[] = [];
  /** Invoices GET /v1/invoices/:id answers (a test puts them here). */
  readonly invoices = new Map<string, Record<string, unknown>>();
  /** Invoice id → the PaymentIntent that paid it, listed by GET /v1/invoice_payments (the Invoice object has no payment_intent). */
  readonly invoicePayments = new Map<string, string>();
  /** Events GET /v1/events lists (reconciliation). */
  events: Record<string, unknown>[] = [];
  private readonly failures: { method: string; path: RegExp; status: number; remaining: number }[] = [];
  private server: Server | null = null;
  private readonly answered = new Map<string, { status: number; body: unknown; form: string }>();
  private seq = 0;
  /** Problems found in requests (missing Idempotency-Key on a POST, bad auth): tests assert it stays empty. */
  readonly violations: string[] = [];

  private readonly routes: [string, RegExp, Handler][] = [
    ['POST', /^\/v1\/customers$/, (r) => {
      const customer = { ...stripeFixture('customer'), id: this.id('cus'), name: r.form['name'] ?? null, email: r.form['email'] ?? null, metadata: metadataOf(r.form), discount: null };
      this.customers.set(customer.id, customer);
      return { body: customer };
    }],
    // Search: only `metadata['key']:'value'`, the one query the adapter makes.
    ['GET', /^\/v1\/customers\/search$/, (r) => {
      const [, key, value] = /^metadata\['(\w+)'\]:'([^']*)'$/.exec(r.query['query'] ?? '') ?? [];
      const data = [...this.customers.values()].filter((c) => key && (c['metadata'] as Record<string, string>)[key] === value);
      return { body: { object: 'search_result', data, has_more: false, next_page: null, url: '/v1/customers/search' } };
    }],
    ['GET', /^\/v1\/customers\/([\w]+)$/, (_r, [id]) => (this.customers.has(id!) ? { body: this.customers.get(id!) } : notFound(id!))],
    ['GET', /^\/v1\/invoices\/([\w]+)$/, (_r, [id]) => (this.invoices.has(id!) ? { body: this.invoices.get(id!) } : notFound(id!))],
    ['GET', /^\/v1\/invoice_payments$/, (r) => {
      // By invoice, or by the PaymentIntent that paid it (payment[payment_intent]).
      const byIntent = r.query['payment[payment_intent]'];
      const invoice = byIntent ? ([...this.invoicePayments].find(([, pi]) => pi === byIntent)?.[0] ?? '') : (r.query['invoice'] ?? '');
      const intent = this.invoicePayments.get(invoice);
      const data = intent ? [{ ...stripeFixture('invoice_payment'), id: this.id('inpay'), invoice, is_default: true, status: 'paid', currency: 'usd', payment: { type: 'payment_intent', payment_intent: intent } }] : [];
      return { body: { object: 'list', data, has_more: false, url: '/v1/invoice_payments' } };
    }],
    ['POST', /^\/v1\/subscription_schedules$/, (r) => ({ body: this.scheduleFrom(r.form['from_subscription']!) })],
    ['GET', /^\/v1\/subscription_schedules\/([\w]+)$/, (_r, [id]) => (this.schedules.has(id!) ? { body: this.schedules.get(id!) } : notFound(id!))],
    ['POST', /^\/v1\/subscription_schedules\/([\w]+)\/release$/, (r, [id]) => this.endSchedule(id!, 'released', r.form['preserve_cancel_date'] === 'true')],
    ['POST', /^\/v1\/subscription_schedules\/([\w]+)\/cancel$/, (_r, [id]) => this.endSchedule(id!, 'canceled')],
    ['POST', /^\/v1\/subscription_schedules\/([\w]+)$/, (r, [id]) => {
      const schedule = this.schedules.get(id!);
      if (!schedule) return notFound(id!);
      schedule['end_behavior'] = r.form['end_behavior'] ?? schedule['end_behavior'];
      schedule['phases'] = phasesOf(r.form);
      // Like Stripe: a schedule that ends in a cancellation shows it on the subscription as cancel_at.
      const phases = schedule['phases'] as Record<string, unknown>[];
      this.subscriptions.get(schedule['subscription'] as string)!['cancel_at'] = schedule['end_behavior'] === 'cancel' ? Number(phases.at(-1)?.['end_date'] ?? 0) || null : null;
      return { body: schedule };
    }],
    ['POST', /^\/v1\/products$/, (r) => ({ body: { ...stripeFixture('product'), id: r.form['id'], name: r.form['name'], metadata: metadataOf(r.form) } })],
    ['POST', /^\/v1\/subscriptions$/, (r) => ({ body: this.createSubscription(r) })],
    ['GET', /^\/v1\/subscriptions$/, (r) => {
      const data = [...this.subscriptions.values()].filter((s) => !r.query['customer'] || s['customer'] === r.query['customer']).filter((s) => r.query['status'] === 'all' || s['status'] !== 'canceled');
      return { body: { object: 'list', data, has_more: false, url: '/v1/subscriptions' } };
    }],
    ['GET', /^\/v1\/subscriptions\/([\w]+)$/, (r, [id]) => (this.subscriptions.has(id!) ? { body: this.withExpansions(this.subscriptions.get(id!)!, r) } : notFound(id!))],
    ['POST', /^\/v1\/subscriptions\/([\w]+)$/, (r, [id]) => (this.subscriptions.has(id!) ? { body: this.updateSubscription(id!, r) } : notFound(id!))],
    ['DELETE', /^\/v1\/subscriptions\/([\w]+)$/, (_r, [id]) => (this.subscriptions.has(id!) ? { body: Object.assign(this.subscriptions.get(id!)!, { status: 'canceled' }) } : notFound(id!))],
    ['POST', /^\/v1\/setup_intents$/, (r) => {
      const id = this.id('seti');
      return { body: { ...stripeFixture('setup_intent'), id, customer: r.form['customer'], client_secret: `${id}_secret_test`, metadata: metadataOf(r.form), usage: r.form['usage'] } };
    }],
    ['POST', /^\/v1\/refunds$/, (r) => {
      const refund = { ...stripeFixture('refund'), id: this.id('re'), payment_intent: r.form['payment_intent'], amount: Number(r.form['amount']), status: 'succeeded', metadata: metadataOf(r.form) };
      this.refunds.push(refund);
      return { body: refund };
    }],
    ['GET', /^\/v1\/refunds$/, (r) => ({ body: { object: 'list', data: this.refunds.filter((x) => !r.query['payment_intent'] || x['payment_intent'] === r.query['payment_intent']), has_more: false, url: '/v1/refunds' } })],
    ['GET', /^\/v1\/events$/, (r) => {
      const gte = Number(r.query['created[gte]'] ?? 0);
      const data = this.events.filter((e) => (e['created'] as number) >= gte).sort((a, b) => (b['created'] as number) - (a['created'] as number));
      return { body: { object: 'list', data, has_more: false, url: '/v1/events' } };
    }],
  ];

  /** A fresh account: no objects, no requests, no keys (tests that share one server). */
  reset(): void {
    for (const m of [this.subscriptions, this.customers, this.schedules, this.invoicePayments, this.invoices, this.answered]) m.clear();
    this.refunds.length = 0;
    this.requests.length = 0;
  }

  /** Stripe keeps Idempotency-Keys for 24 hours: forgets every key, as a day later. */
  forgetIdempotencyKeys(): void {
    this.answered.clear();
  }

  /** The next `times` requests matching method and path answer `status` (429 or 5xx) before succeeding. */
  failNext(method: string, path: RegExp, status: number, times = 1): void {
    this.failures.push({ method, path, status, remaining: times });
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req).then(({ status, body, headers }) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${this.seq}`, ...headers });
      res.end(JSON.stringify(body));
    }));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  requestsTo(method: string, path: string | RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));
  }

  private id(prefix: string): string {
    this.seq += 1;
    return `${prefix}_test${String(this.seq).padStart(6, '0')}`;
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      authorization: req.headers['authorization'],
      stripeVersion: req.headers['stripe-version'] as string | undefined,
    };
    this.requests.push(recorded);
    if (!/^Bearer sk_test_\w+$/.test(recorded.authorization ?? '')) this.violations.push(`${recorded.method} ${recorded.path}: no test-mode secret key`);
    if (recorded.method === 'POST' && !recorded.idempotencyKey) this.violations.push(`${recorded.method} ${recorded.path}: no Idempotency-Key`);
    const failure = this.failures.find((f) => f.remaining > 0 && f.method === recorded.method && f.path.test(recorded.path));
    if (failure) {
      failure.remaining -= 1;
      const type = failure.status === 429 ? 'rate_limit_error' : 'api_error';
      return { status: failure.status, body: { error: { type, message: `injected ${failure.status}` } } };
    }
    // Like Stripe: a POST with an Idempotency-Key seen before gets the first answer again, and nothing is done twice.
    const replayKey = recorded.method === 'POST' && recorded.idempotencyKey ? `${recorded.path}\n${recorded.idempotencyKey}` : null;
    const replay = replayKey ? this.answered.get(replayKey) : undefined;
    // Like Stripe: a key comes back only with the parameters it was first used with.
    if (replay && replay.form !== JSON.stringify(recorded.form)) return { status: 400, body: { error: { type: 'idempotency_error', message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.' } } };
    if (replay) return { status: replay.status, body: replay.body, headers: { 'idempotent-replayed': 'true' } };
    for (const [method, pattern, handler] of this.routes) {
      const match = recorded.method === method ? pattern.exec(recorded.path) : null;
      if (match) {
        let handled: { status?: number; body: unknown };
        try {
          handled = handler(recorded, match.slice(1));
        } catch (err) {
          if (!(err instanceof StripeRefusal)) throw err;
          handled = { status: 400, body: { error: { type: 'invalid_request_error', message: err.message } } };
        }
        const { status = 200, body } = handled;
        const answer = { status, body: structuredClone(body) };
        if (replayKey && status < 500) this.answered.set(replayKey, { ...answer, form: JSON.stringify(recorded.form) });
        return answer;
      }
    }
    return { status: 404, body: { error: { type: 'invalid_request_error', message: `no route ${recorded.method} ${recorded.path}` } } };
  }

  private createSubscription(r: RecordedRequest): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    const id = this.id('sub');
    const item = stripeFixture('subscription_item');
    const price = { ...stripeFixture('price'), id: r.form['items[0][price]'] ?? this.id('price'), currency: r.form['items[0][price_data][currency]'] ?? 'usd', product: r.form['items[0][price_data][product]'] ?? 'prod_test', unit_amount: Number(r.form['items[0][price_data][unit_amount]'] ?? 0), recurring: { interval: 'year', interval_count: 1, usage_type: 'licensed' } };
    // Like Stripe: default_incomplete leaves a card subscription incomplete until its first invoice is paid.
    const incomplete = r.form['payment_behavior'] === 'default_incomplete';
    const sub = {
      ...stripeFixture('subscription'),
      id,
      customer: r.form['customer'],
      status: incomplete ? 'incomplete' : 'active',
      schedule: null,
      collection_method: r.form['collection_method'],
      days_until_due: r.form['days_until_due'] ? Number(r.form['days_until_due']) : null,
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      metadata: metadataOf(r.form),
      items: { object: 'list', data: [{ ...item, id: this.id('si'), subscription: id, quantity: Number(r.form['items[0][quantity]']), price, current_period_start: now, current_period_end: now + 365 * 86_400 }], has_more: false, url: '/v1/subscription_items' },
      latest_invoice: this.id('in'),
    };
    this.subscriptions.set(id, sub);
    return sub;
  }

  /** `expand[]=latest_invoice.confirmation_secret`: the invoice, with what Stripe.js needs to confirm it (no payment_intent field, as today). */
  private withExpansions(sub: Record<string, unknown>, r: RecordedRequest): Record<string, unknown> {
    if (!Object.entries(r.query).some(([k, v]) => k.startsWith('expand') && v === 'latest_invoice.confirmation_secret')) return sub;
    const invoiceId = sub['latest_invoice'] as string;
    const invoice = { ...stripeFixture('invoice'), id: invoiceId, customer: sub['customer'], subscription: sub['id'], status: sub['status'] === 'incomplete' ? 'open' : 'paid', confirmation_secret: { client_secret: `pi_for_${invoiceId}_secret_test`, type: 'payment_intent' } };
    return { ...sub, latest_invoice: invoice };
  }

  /**
   * Released: the subscription goes on alone, its cancel_at cleared unless `preserveCancel` (preserve_cancel_date).
   * Canceled: the subscription ends with it.
   */
  private endSchedule(id: string, status: 'released' | 'canceled', preserveCancel = false) {
    const schedule = this.schedules.get(id);
    if (!schedule) return notFound(id);
    schedule['status'] = status;
    const sub = this.subscriptions.get(schedule['subscription'] as string)!;
    sub['schedule'] = null;
    if (!preserveCancel) sub['cancel_at'] = null;
    if (status === 'canceled') sub['status'] = 'canceled';
    return { body: schedule };
  }

  private scheduleFrom(subscriptionId: string): Record<string, unknown> {
    const sub = this.subscriptions.get(subscriptionId)!;
    const item = (sub['items'] as { data: Record<string, unknown>[] }).data[0]!;
    const id = this.id('sub_sched');
    const phase = { start_date: item['current_period_start'], end_date: item['current_period_end'] };
    const schedule = { ...stripeFixture('subscription_schedule'), id, subscription: subscriptionId, customer: sub['customer'], status: 'active', end_behavior: 'release', current_phase: phase, phases: [{ ...phase, items: [{ price: (item['price'] as { id: string }).id, quantity: item['quantity'] }] }] };
    this.schedules.set(id, schedule);
    sub['schedule'] = id;
    return schedule;
  }

  private updateSubscription(id: string, r: RecordedRequest): Record<string, unknown> {
    const sub = this.subscriptions.get(id)!;
    // Like Stripe: a subscription a schedule manages takes no direct change.
    if (sub['schedule']) throw new StripeRefusal(`The subscription is managed by the subscription schedule \`${String(sub['schedule'])}\`, and updating it directly is not allowed.`);
    if (r.form['cancel_at_period_end'] !== undefined) sub['cancel_at_period_end'] = r.form['cancel_at_period_end'] === 'true';
    if (r.form['cancel_at'] !== undefined) sub['cancel_at'] = r.form['cancel_at'] === '' ? null : Number(r.form['cancel_at']);
    const items = (sub['items'] as { data: Record<string, unknown>[] }).data;
    if (r.form['items[0][quantity]']) items[0]!['quantity'] = Number(r.form['items[0][quantity]']);
    if (r.form['items[0][price_data][product]']) Object.assign(items[0]!['price'] as object, { product: r.form['items[0][price_data][product]'], unit_amount: Number(r.form['items[0][price_data][unit_amount]']) });
    return sub;
  }
}

class StripeRefusal extends Error {}

function metadataOf(form: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(form)) {
    const m = /^metadata\[(\w+)\]$/.exec(k);
    if (m) out[m[1]!] = v;
  }
  return out;
}

/** phases[i][field] and phases[i][items][j][field] of a form, as objects (what the test asserts). */
function phasesOf(form: Record<string, string>): Record<string, unknown>[] {
  const phases: Record<string, unknown>[] = [];
  for (const [k, v] of Object.entries(form)) {
    const m = /^phases\[(\d+)\]\[(\w+)\](.*)$/.exec(k);
    if (!m) continue;
    const phase = (phases[Number(m[1])] ??= {});
    const rest = m[3]!;
    const item = /^\[(\d+)\]\[(\w+)\](.*)$/.exec(rest);
    if (m[2] === 'items' && item) {
      const items = ((phase['items'] as Record<string, string>[] | undefined) ??= []);
      const entry = (items[Number(item[1])] ??= {});
      entry[`${item[2]}${item[3]}`] = v;
    } else {
      phase[`${m[2]}${rest}`] = v;
    }
  }
  return phases;
}

function notFound(id: string) {
  return { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such subscription: '${id}'` } } };
}
