import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currencies, plansFile, simPlans, zones, type Currency } from './catalog.ts';
import { Driver, type Violation } from './driver.ts';
import { checkInvariants } from './invariants.ts';
import { OrganizationModel } from './model.ts';
import { startDistributed } from './distributed.ts';
import { clockWriter, startEmbedded, type SimPlatform } from './platform.ts';
import { Random } from './random.ts';
import { WebhookReceiver } from '../webhookReceiver.ts';
import { Mailbox } from './mailbox.ts';
import { CardHistory, cardOperations, type CardState } from './cardHistory.ts';
import { SimStripe } from './stripe.ts';

export interface SimulationOptions {
  seed: number;
  mode: 'embedded' | 'distributed';
  /** How the organizations pay: bank transfers the operator records (the default), or cards Stripe charges. */
  collection?: 'transfer' | 'card';
  organizations: number;
  /** Operations in the history (clock advances included). */
  steps: number;
  /** Years the history spans. */
  years: number;
  /** Chance per step of a kill -9 (between two steps, or under a request). */
  crashRate: number;
  /** Only these steps of the seed's history (a shortened history that reproduces a violation). */
  only?: number[];
  log?: (line: string) => void;
}

export interface SimulationReport {
  seed: number;
  mode: string;
  collection: string;
  steps: number;
  operations: Record<string, number>;
  faults: number;
  requests: number;
  p99Ms: number;
  durationMs: number;
  violations: Violation[];
  /** For a failing history: the steps of the organizations a violation names (the shortened history). */
  history: string[];
  /** Processes that exited on their own and were restarted (not violations, but worth reading). */
  restarts: string[];
  /** What the history exercised: the model's invoices by reason, years closed, exports, late usage events. */
  covered: Record<string, number>;
  /** Set by make soak: the steps of a shortened history that still fails. */
  shortened?: number[];
}

/** What the simulation, as the client and the operator, knows of one organization. */
export interface SimOrganization {
  id: string;
  apiKey: string;
  projectId: string;
  model: OrganizationModel;
  /** Money the operator recorded as received and returned, as acknowledged: the independent books. */
  cashIn: number;
  cashOut: number;
  usageIds: string[];
  billingEmail: string;
  /** Invoices the operator voided, and marked uncollectible, as acknowledged. */
  voided: Set<string>;
  uncollectible: Set<string>;
  /** Credit notes the operator had acknowledged, per invoice: the amounts, in order. */
  creditNotes: Map<string, number[]>;
  /** A card customer's subscription at Stripe (card histories only). */
  card?: CardState;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * One seeded history of the business against the real platform, through its public API, on a clock the
 * simulation moves; faults injected as it goes; every invariant checked once the platform is quiet.
 */
export async function simulate(options: SimulationOptions): Promise<SimulationReport> {
  const started = performance.now();
  // The organizations and the start come from the seed; each step from a stream of its own (below).
  let random = new Random(options.seed);
  const dir = mkdtempSync(join(tmpdir(), `curbmap-sim-${options.seed}-`));
  writeFileSync(join(dir, 'plans.json'), plansFile());
  let now = Date.parse('2027-01-04T09:00:00Z') + random.int(0, 300) * DAY + random.int(0, 86_399) * 1000;
  const setClock = clockWriter(join(dir, 'clock'));
  setClock(new Date(now));
  // The organizations' mail server: every process mails there (SMTP_URL).
  const mailbox = new Mailbox();
  const mail = { SMTP_URL: await mailbox.listen() };
  // Card histories: Stripe is the simulation's, on its clock; the platform is configured to collect through it.
  const stripe = options.collection === 'card' ? new SimStripe() : null;
  const env = { ...mail, ...(stripe ? await stripe.start() : {}) };
  const platform: SimPlatform = options.mode === 'embedded' ? await startEmbedded(dir, env) : await startDistributed(dir, env);
  const driver = new Driver(platform, options.seed);
  const card = stripe ? new CardHistory({ driver, platform, stripe, now: () => now, random: () => random, expect: (cond, what) => expect(cond, what) }) : null;
  // The organizations' webhook endpoints: the first attempt of about one message in ten is refused (500), so
  // retries happen; at the end every attempt is taken, so what is owed arrives.
  const receiver = new WebhookReceiver();
  const hooks = await receiver.listen();
  const refused = new Set<string>();
  let acceptAll = false;
  receiver.answer = ({ headers }) => {
    const id = String(headers['webhook-id'] ?? '');
    if (acceptAll || refused.has(id) || parseInt(id.replace(/[^0-9a-f]/g, '').slice(-2) || '0', 16) >= 26) return { status: 204 };
    refused.add(id);
    return { status: 500 };
  };
  const operations: Record<string, number> = {};
  let faults = 0;
  let lateUsage = 0;
  const iso = () => new Date(now).toISOString();
  const count = (op: string) => void (operations[op] = (operations[op] ?? 0) + 1);
  const expect = (cond: boolean, what: string) => void (cond || driver.violation('model', what));
  // 202: committed, but a read model had not shown it within the wait (a process restarting): accepted all the same.
  const done = (res: { status: number }, status: number) => res.status === status || res.status === 202;

  const orgs: SimOrganization[] = [];
  const averageAdvance = (options.years * 365 * DAY) / Math.max(1, options.steps * 0.2);
  try {
    for (let i = 0; i < options.organizations; i++) {
      const currency = random.pick(currencies) as Currency;
      const zone = random.pick(zones);
      // Stripe computes a card customer's tax itself (none here): the operator's tax settings are for transfers.
      const taxBps = card ? 0 : random.pick([0, 0, 1000, 1900, 2000]);
      const name = `City ${options.seed}-${i}`;
      const created = await driver.call('POST', '/v1/organizations', 'admin', { name, billingEmail: `ap${i}@city.example`, currency, timeZone: zone });
      if (created.status !== 201) throw new Error(`creating an organization: ${created.status} ${created.text}`);
      const { id, apiKey } = created.body as { id: string; apiKey: string };
      if (taxBps > 0) {
        const tax = await driver.call('PUT', `/v1/admin/organizations/${id}/tax-settings`, 'admin', { rateBasisPoints: taxBps, mode: 'exclusive', note: null });
        expect(tax.status === 200, `setting tax: ${tax.status} ${tax.text}`);
      }
      const project = await driver.call('POST', '/v1/projects', apiKey, { name: 'Downtown' });
      await driver.call('POST', '/v1/meters', apiKey, { key: 'edits', name: 'Edits', eventType: 'zone.edited', aggregation: 'count' });
      const hook = await driver.call('POST', '/v1/webhook-endpoints', apiKey, { url: `${hooks}/${i}`, events: ['invoice.issued', 'payment.received', 'invoice.overdue', 'subscription.renewal_due'] });
      expect(done(hook, 201), `webhook endpoint: ${hook.status} ${hook.text.slice(0, 200)}`);
      orgs.push({ id, apiKey, projectId: project.body.id, model: new OrganizationModel(name, currency, zone, taxBps), cashIn: 0, cashOut: 0, usageIds: [], creditNotes: new Map(), voided: new Set(), uncollectible: new Set(), billingEmail: `ap${i}@city.example`, ...(card ? { card: { subscription: null, cancelAtPeriodEnd: false } } : {}) });
    }

    // A platform that never becomes quiet (or any other failure of the run) is a violation of its own, with what
    // the processes printed: the report still comes out, and a soak goes on with the next history.
    try {
      for (let step = 1; step <= options.steps; step++) {
        // A step's organization, operation, choices and faults come from its own stream (the seed and its number),
        // so a shortened history (`only`) replays each step it keeps as the whole history made it.
        random = new Random(Math.imul(options.seed, 0x9e3779b1) ^ Math.imul(step, 0x85ebca6b));
        if (options.only && !options.only.includes(step)) continue;
        driver.step = step;
        const org = random.pick(orgs);
        driver.who = org.model.name;
        let op = card ? random.weighted(cardOperations) : random.weighted<string>([
          ['advance', 20],
          ['subscribe', 6],
          ['change', 14],
          ['cancel', 3],
          ['usage', 20],
          ['void-usage', 5],
          ['pay', 15],
          ['credit-note', 4],
          ['refund', 4],
          ['void-invoice', 2],
          ['uncollectible', 2],
          ['export', 6],
          ['concurrent', 5],
        ]);
        // What the organization's state allows: subscribing when it has none, changing or canceling when it has one.
        // (A card history's state is Stripe's: its operations choose for themselves.)
        if (!card && org.model.canSubscribe() && (op === 'change' || op === 'cancel')) op = 'subscribe';
        else if (!card && !org.model.canSubscribe() && op === 'subscribe') op = 'change';
        if (op === 'void-usage' && !org.usageIds.length) op = 'usage';
        count(op);
        if (random.chance(options.crashRate)) {
          // kill -9 a few milliseconds after the step's first mutating request goes out (or after the step, if it
          // sent none): the client sends it again with its Idempotency-Key.
          const victim = random.pick(platform.processes());
          const delay = random.int(0, 30);
          let crashed: Promise<unknown> | null = null;
          driver.beforeMutation = () => void (crashed = new Promise((r) => setTimeout(r, delay)).then(() => fault(victim, `${delay} ms into the step's first mutating request`)));
          await perform(op, org);
          driver.beforeMutation = null;
          await (crashed ?? fault(victim, 'after the step'));
        } else await perform(op, org);
        if (random.chance(options.crashRate)) await fault(random.pick(platform.processes()), 'between two steps');
      }

      // The end of the story: every webhook attempt taken from now on, half a day for the retries to come due
      // (the schedulers run), then the books once the platform is quiet.
      acceptAll = true;
      await driver.quiet();
      now += 12 * HOUR;
      setClock(new Date(now));
      await driver.quiet();
      await runSchedulers();
      driver.step = options.steps + 1;
      if (card) for (const org of orgs) await card.checkSubscription(org);
      await checkInvariants(driver, orgs, iso(), {
        stripe,
        webhooks: (org) => receiver.received.filter((r) => r.status < 300 && r.url === `/hooks/${orgs.indexOf(org)}`).map((r) => ({ id: String(r.headers['webhook-id']), body: r.body })),
        mails: (org) => mailbox.mails.filter((m) => m.to.includes(org.billingEmail)),
      });
    } catch (err) {
      driver.violation('platform', `${(err as Error).message}\n${platform.logs().slice(-6000)}`);
    }
    // SIM_LOGS=<file>: what the processes printed, kept for a history with violations.
    if (driver.violations.length && process.env['SIM_LOGS']) writeFileSync(`${process.env['SIM_LOGS']}.${options.seed}`, platform.logs());
    const named = new Set(orgs.map((o) => o.model.name).filter((name) => driver.violations.some((v) => v.detail.startsWith(`${name}:`))));
    const history = driver.violations.length ? driver.trace.filter((t) => named.has(t.who) || t.who === 'operator' || t.who === 'stripe' || named.size === 0).map((t) => `${t.step} [${t.who}] ${t.line}`) : [];
    return { seed: options.seed, mode: options.mode, collection: options.collection ?? 'transfer', steps: options.steps, operations, faults, requests: driver.requests, p99Ms: Math.round(driver.p99()), durationMs: Math.round(performance.now() - started), violations: driver.violations, history, restarts: platform.restarts?.() ?? [], covered: coverage() };
  } finally {
    await receiver.close();
    await platform.stop();
    await stripe?.close();
    await mailbox.close();
    rmSync(dir, { recursive: true, force: true });
  }

  async function fault(victim: string, when: string): Promise<void> {
    driver.trace.push({ step: driver.step, who: 'operator', line: `fault: ${victim} (${when})` });
    faults += 1;
    await platform.crash(victim);
  }

  function coverage(): Record<string, number> {
    const covered: Record<string, number> = { lateUsage };
    for (const c of stripe?.charges ?? []) {
      covered[`stripe.${c.reason}`] = (covered[`stripe.${c.reason}`] ?? 0) + 1;
      if (c.failed) covered['stripe.declined'] = (covered['stripe.declined'] ?? 0) + 1;
      if (c.refunded) covered['stripe.refunded'] = (covered['stripe.refunded'] ?? 0) + 1;
    }
    for (const o of orgs) {
      for (const i of o.model.invoices) covered[`invoices.${i.reason}`] = (covered[`invoices.${i.reason}`] ?? 0) + 1;
      covered['yearsClosed'] = (covered['yearsClosed'] ?? 0) + o.model.years.filter((y) => y.closed).length;
      covered['exports'] = (covered['exports'] ?? 0) + o.model.exports.length;
    }
    return covered;
  }

  /**
   * The billing scheduler (renewals, ends), then, once their invoices are issued, the usage closer (years ended
   * a grace period ago, with their overage invoices): the model does the same in the same order.
   */
  async function runSchedulers(): Promise<void> {
    const ran = await driver.call('POST', '/v1/admin/billing/run-scheduler', 'admin');
    expect(ran.status === 200, `scheduler: ${ran.status} ${ran.text}`);
    for (const o of orgs) o.model.renewUpTo(iso());
    await driver.quiet();
    const closed = await driver.call('POST', '/v1/admin/usage/close-periods', 'admin');
    expect(closed.status === 200, `closer: ${closed.status} ${closed.text}`);
    for (const o of orgs) o.model.closeUpTo(iso());
  }

  /** Usage events: mostly of the last hours; some just before or after the end of a year that ended lately. */
  function usageBatch(org: SimOrganization, tag: string): { id: string; type: string; projectId: string; time: string; data: object }[] {
    // Late: within the 35 days ingestion takes, around the end of the last year that ended (closed or in grace).
    const ended = org.model.years.filter((y) => Date.parse(y.end) <= now && now - Date.parse(y.end) < 34 * DAY).at(-1);
    const time = () => (ended && random.chance(0.3) ? ((lateUsage += 1), Date.parse(ended.end) + random.pick([-1, 1]) * random.int(1, 7_200) * 1000) : now - random.int(0, 6 * HOUR));
    return Array.from({ length: random.int(1, 20) }, (_, i) => ({ id: `u${driver.step}${tag}-${i}`, type: 'zone.edited', projectId: org.projectId, time: new Date(time()).toISOString(), data: {} }));
  }

  async function sendUsage(org: SimOrganization, fresh: ReturnType<typeof usageBatch>, again: ReturnType<typeof usageBatch>): Promise<void> {
    const res = await driver.call('POST', '/v1/usage/events', org.apiKey, [...fresh, ...again]);
    expect(done(res, 200), `usage: ${res.status} ${res.text.slice(0, 200)}`);
    if (done(res, 200)) {
      for (const e of fresh) {
        org.model.usage.set(e.id, { time: e.time, voided: false });
        org.usageIds.push(e.id);
      }
      expect(res.status === 202 || res.body.accepted === fresh.length, `usage: ${fresh.length} new events and ${again.length} sent before, the platform accepted ${res.body.accepted}`);
    }
  }

  /** Open and partially paid invoices. */
  async function openInvoices(org: SimOrganization): Promise<any[]> {
    return (await driver.list('/v1/invoices', org.apiKey)).filter((i) => i.status === 'open' || i.status === 'partially_paid');
  }

  async function perform(op: string, org: SimOrganization): Promise<void> {
    const at = iso();
    // What the client reads before it acts is what the history so far must show, however fast the processes were.
    if (op !== 'usage' && op !== 'advance') await driver.quiet();
    if (card && op !== 'advance') return card.perform(op, org);
    switch (op) {
      case 'advance': {
        // What happened so far happens at its own time (a receipt mailed days late is skipped as too old): the
        // clock moves once the platform is quiet.
        await driver.quiet();
        // Whole seconds: proration counts seconds.
        now += Math.max(HOUR, Math.round((random.next() * 2 * averageAdvance) / 1000) * 1000);
        setClock(new Date(now));
        driver.trace.push({ step: driver.step, who: 'operator', line: `clock → ${iso()}` });
        await driver.quiet();
        await card?.renewals(orgs);
        await runSchedulers();
        return;
      }
      case 'subscribe': {
        const planId = random.pick(simPlans).id;
        const seats = random.int(1, 12);
        const res = await driver.call('POST', '/v1/subscription', org.apiKey, { planId, seats });
        expect(done(res, 201), `subscribe ${planId}×${seats}: the model expects 201, the platform answered ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 201)) org.model.subscribe(planId, seats, at);
        return;
      }
      case 'change': {
        const current = await driver.call('GET', '/v1/subscription', org.apiKey);
        // Changes are the customer's while the subscription is in good standing; the model follows the platform's status.
        if (current.status !== 200 || current.body.status !== 'active') return;
        const s = org.model.subscription!;
        expect(current.body.planId === (s.planId) && current.body.seats === s.seats, `subscription before a change: the model has ${s.planId}×${s.seats}, the platform ${current.body.planId}×${current.body.seats}`);
        const change = random.chance(0.3) ? { planId: random.pick(simPlans.filter((p) => p.id !== s.planId)).id } : { seats: Math.max(1, s.seats + random.pick([-3, -1, 1, 2, 5])) };
        if ('seats' in change && change.seats === s.seats) return;
        const res = await driver.call('PATCH', '/v1/subscription', org.apiKey, change);
        expect(done(res, 200), `change ${JSON.stringify(change)}: the model expects 200, the platform answered ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 200)) org.model.change(at, change);
        return;
      }
      case 'cancel': {
        const s = org.model.subscription!;
        const res = s.cancelAtPeriodEnd ? await driver.call('POST', '/v1/subscription/reactivate', org.apiKey, {}) : await driver.call('POST', '/v1/subscription/cancel', org.apiKey, { atPeriodEnd: true });
        expect(done(res, 200), `${s.cancelAtPeriodEnd ? 'reactivate' : 'cancel at period end'}: the model expects 200, the platform answered ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 200)) s.cancelAtPeriodEnd = !s.cancelAtPeriodEnd;
        return;
      }
      case 'usage': {
        const fresh = usageBatch(org, '');
        // Retries and duplicates: some ids sent before come again (with their time: the same event).
        const again = org.usageIds.length && random.chance(0.3) ? random.shuffle(org.usageIds).slice(0, 3).map((id) => ({ ...fresh[0]!, id, time: org.model.usage.get(id)!.time })) : [];
        await sendUsage(org, fresh, again);
        return;
      }
      case 'export': {
        // Completed exports are the export_jobs meter: over the plan's included amount, the year's close bills them.
        for (let k = random.int(1, 4); k > 0; k--) {
          const res = await driver.call('POST', '/v1/exports', org.apiKey, { dataset: 'zones', format: random.pick(['csv', 'json', 'ndjson']) });
          expect(done(res, 202), `export: ${res.status} ${res.text.slice(0, 200)}`);
          if (!done(res, 202)) return;
          let job: any = null;
          for (const until = Date.now() + 120_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
            job = (await driver.call('GET', `/v1/exports/${res.body.id}`, org.apiKey)).body;
            if (job?.status === 'completed' || job?.status === 'failed') break;
          }
          expect(job?.status === 'completed', `export ${res.body.id}: ${JSON.stringify(job).slice(0, 300)}`);
          if (job?.status === 'completed') org.model.exports.push(iso());
        }
        return;
      }
      case 'concurrent': {
        // Two requests of one organization at once: one request sent twice with its key (a client's retry racing
        // the first), two usage batches, or two transfers on its open invoices.
        const open = await openInvoices(org);
        const kind = random.pick(open.length ? ['same-payment', 'usage', 'payments'] : ['usage']);
        if (kind === 'usage') {
          await Promise.all([sendUsage(org, usageBatch(org, 'a'), []), sendUsage(org, usageBatch(org, 'b'), [])]);
          return;
        }
        const pay = async (reference: string, key?: string) => {
          const invoice = random.pick(open);
          const amount = random.int(1, invoice.amountRemaining as number);
          const body = { amount, currency: invoice.currency, reference, receivedAt: at };
          return { amount, res: await driver.call('POST', `/v1/admin/invoices/${invoice.id}/payments`, 'admin', body, key) };
        };
        if (kind === 'payments') {
          for (const { amount, res } of await Promise.all([pay(`W-${driver.step}a`), pay(`W-${driver.step}b`)])) {
            expect(done(res, 201), `one of two payments at once (${amount}): ${res.status} ${res.text.slice(0, 200)}`);
            if (done(res, 201)) org.cashIn += amount;
          }
          return;
        }
        // One request twice at once: the same body and key, so one payment whatever the two answers say.
        const invoice = random.pick(open);
        const amount = random.int(1, invoice.amountRemaining as number);
        const body = { amount, currency: invoice.currency, reference: `W-${driver.step}`, receivedAt: at };
        const key = driver.newKey();
        const answers = await Promise.all([0, 1].map(() => driver.call('POST', `/v1/admin/invoices/${invoice.id}/payments`, 'admin', body, key)));
        expect(answers.every((res) => done(res, 201)), `one payment sent twice at once: ${answers.map((res) => `${res.status} ${res.text.slice(0, 150)}`).join(' | ')}`);
        if (answers.some((res) => done(res, 201))) org.cashIn += amount;
        return;
      }
      case 'void-usage': {
        const id = random.pick(org.usageIds);
        const res = await driver.call('POST', `/v1/usage/events/${id}/void`, org.apiKey);
        const wasVoided = org.model.usage.get(id)!.voided;
        expect(wasVoided ? res.status >= 200 && res.status < 500 : done(res, 200), `void usage ${id}: ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 200)) org.model.usage.get(id)!.voided = true;
        return;
      }
      case 'pay': {
        const open = [...(await openInvoices(org)), ...(await driver.list('/v1/invoices', org.apiKey)).filter((i) => i.status === 'uncollectible' && i.amountRemaining > 0 && random.chance(0.5))];
        if (!open.length) return;
        const invoice = random.pick(open);
        const remaining = invoice.amountRemaining as number;
        const amount = random.weighted<number>([
          [remaining, 5],
          [Math.max(1, Math.floor(remaining * random.next())), 3],
          [remaining + random.int(1, Math.max(1, Math.floor(remaining / 3))), 2],
        ]);
        const reference = `W-${driver.step}`;
        const res = await driver.call('POST', `/v1/admin/invoices/${invoice.id}/payments`, 'admin', { amount, currency: invoice.currency, reference, receivedAt: at });
        expect(done(res, 201), `payment of ${amount} on ${invoice.number} (${remaining} remaining): ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 201)) org.cashIn += amount;
        if (done(res, 201) && random.chance(0.2)) {
          // The operator records the same transfer twice: the reference is taken.
          const dup = await driver.call('POST', `/v1/admin/invoices/${invoice.id}/payments`, 'admin', { amount, currency: invoice.currency, reference, receivedAt: at });
          if (dup.status === 202) await driver.quiet();
          expect(dup.status === 409, `the same reference twice on ${invoice.number}: expected 409, got ${dup.status} ${dup.text.slice(0, 200)}`);
          if (done(dup, 201)) org.cashIn += amount;
        }
        return;
      }
      case 'credit-note': {
        const creditable = (await driver.list('/v1/invoices', org.apiKey)).filter((i) => i.status !== 'void' && i.total - (i.amountCredited ?? 0) > 0);
        if (!creditable.length) return;
        const invoice = random.pick(creditable);
        const amount = random.int(1, invoice.total - (invoice.amountCredited ?? 0));
        const res = await driver.call('POST', `/v1/admin/invoices/${invoice.id}/credit-notes`, 'admin', { amount, reason: 'simulated correction' });
        expect(done(res, 201), `credit note of ${amount} on ${invoice.number} (total ${invoice.total}, credited ${invoice.amountCredited ?? 0}): ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 201)) org.creditNotes.set(invoice.id, [...(org.creditNotes.get(invoice.id) ?? []), amount]);
        return;
      }
      case 'refund': {
        const payments = (await driver.call('GET', '/v1/payments', org.apiKey)).body?.data as any[] | undefined;
        const candidates = (payments ?? []).filter((p) => p.method === 'bank_transfer' && p.amount - (p.refundedAmount ?? 0) > 0);
        if (!candidates.length) return;
        const payment = random.pick(candidates);
        const body: Record<string, unknown> = { reference: `R-${driver.step}`, refundedAt: at };
        if (random.chance(0.6)) body['amount'] = random.int(1, payment.amount - (payment.refundedAmount ?? 0));
        const res = await driver.call('POST', `/v1/admin/payments/${encodeURIComponent(payment.id)}/refunds`, 'admin', body);
        // More than the transfer still pays is refused (422); what is accepted left the operator's account.
        expect(done(res, 201) || res.status === 422 || res.status === 409, `refund on ${payment.id}: ${res.status} ${res.text.slice(0, 200)}`);
        // The answer is the payment as the refund left it: what it returned now is the growth of its refunded amount
        // (after a 202, read once the platform is quiet).
        let after = res.status === 201 ? res.body : null;
        if (res.status === 202) {
          await driver.quiet();
          after = ((await driver.call('GET', '/v1/payments', org.apiKey)).body?.data as any[]).find((p) => p.id === payment.id);
        }
        if (after) {
          // What the operator asked to return is what left its account; without an amount, the platform says.
          const grew = (after.refundedAmount as number) - (payment.refundedAmount ?? 0);
          const asked = body['amount'] as number | undefined;
          if (asked !== undefined && grew !== asked) driver.violation('1 cash', `${org.model.name}: a refund of ${asked} on ${payment.id} accepted, the payment's refunded amount grew by ${grew}`);
          const refundable = payment.amount - (payment.refundedAmount ?? 0);
          if (grew <= 0 || grew > refundable) driver.violation('1 cash', `${org.model.name}: a refund on ${payment.id} (${refundable} refundable) grew its refunded amount by ${grew}`);
          org.cashOut += asked ?? grew;
        }
        return;
      }
      case 'uncollectible': {
        // Dunning stops; a transfer that still arrives settles it (the pay step also picks uncollectible invoices).
        const open = await openInvoices(org);
        if (!open.length) return;
        const invoice = random.pick(open);
        const res = await driver.call('POST', `/v1/admin/invoices/${invoice.id}/mark-uncollectible`, 'admin', { reason: 'simulated: the city stopped answering' });
        expect(done(res, 200), `mark ${invoice.number} uncollectible: ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 200)) org.uncollectible.add(invoice.id);
        return;
      }
      case 'void-invoice': {
        const unpaid = (await driver.list('/v1/invoices', org.apiKey)).filter((i) => i.status === 'open' && i.amountPaid === 0 && (i.amountCredited ?? 0) === 0);
        if (!unpaid.length) return;
        const invoice = random.pick(unpaid);
        const res = await driver.call('POST', `/v1/admin/invoices/${invoice.id}/void`, 'admin', { reason: 'simulated: issued in error' });
        expect(done(res, 200), `void ${invoice.number}: ${res.status} ${res.text.slice(0, 200)}`);
        if (done(res, 200)) org.voided.add(invoice.id);
        return;
      }
      default:
        throw new Error(`unknown operation ${op}`);
    }
  }
}
