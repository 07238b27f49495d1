import type { Driver } from './driver.ts';
import type { Mail } from './mailbox.ts';
import type { SimOrganization } from './simulation.ts';
import type { SimStripe, StripeCharge } from './stripe.ts';

/** The webhooks an organization's endpoint took (2xx), each with its `webhook-id` and body. */
export type DeliveredTo = (org: SimOrganization) => { id: string; body: string }[];

/** What reached the organizations: webhook deliveries taken (2xx) and mails to their billing address. */
export interface Deliveries {
  webhooks: DeliveredTo;
  mails: (org: SimOrganization) => Mail[];
  /** Card histories: the Stripe whose charges and refunds are the card customers' books. */
  stripe?: SimStripe | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Books {
  invoices: any[];
  payments: any[];
  credit: Record<string, number>;
}

async function booksOf(driver: Driver, org: SimOrganization): Promise<Books> {
  const invoices = await driver.list('/v1/invoices', org.apiKey);
  const payments = ((await driver.call('GET', '/v1/payments', org.apiKey)).body?.data ?? []) as any[];
  const credit = ((await driver.call('GET', '/v1/credit-balance', org.apiKey)).body?.balances ?? {}) as Record<string, number>;
  return { invoices, payments, credit };
}

/** The books once every process has applied everything. */
async function quietBooks(driver: Driver, orgs: SimOrganization[]): Promise<Map<string, Books>> {
  await driver.quiet();
  const books = new Map<string, Books>();
  for (const org of orgs) books.set(org.id, await booksOf(driver, org));
  return books;
}

const invoiceNumber = /^CM-(\d{4})-(\d{6})$/;

/** Every invariant of the issue, for every organization; violations go to the driver's report. */
export async function checkInvariants(driver: Driver, orgs: SimOrganization[], at: string, delivered: Deliveries): Promise<void> {
  const books = await quietBooks(driver, orgs);
  // 6. Nothing parked: an event a process gave up on is an effect missing somewhere.
  const parked = await driver.call('GET', '/v1/admin/dead-letters?status=parked', 'admin');
  if (parked.status !== 200) driver.violation('6 effects', `dead letters could not be read: ${parked.status} ${parked.text.slice(0, 200)}`);
  for (const d of (parked.body?.data ?? []) as { subscription: string; eventType: string; error: string; attempts: number }[]) {
    driver.violation('6 effects', `dead letter: ${d.subscription} gave up on ${d.eventType} after ${d.attempts} attempts: ${d.error.slice(0, 300)}`);
  }
  await checkWebhooks(driver, orgs, books, delivered.webhooks);
  await checkMails(driver, orgs, books, delivered.mails);
  for (const org of orgs) {
    const { invoices, payments, credit } = books.get(org.id)!;
    const who = org.model.name;
    const cur = org.model.currency;
    const fail = (invariant: string, detail: string) => driver.violation(invariant, `${who}: ${detail}`);
    // A card customer's money is what Stripe took and returned.
    const charges = org.card && delivered.stripe ? delivered.stripe.charges.filter((c) => c.organizationId === org.id && c.paid) : null;
    if (charges) {
      org.cashIn = charges.reduce((a, c) => a + c.total, 0);
      org.cashOut = charges.reduce((a, c) => a + c.refunded, 0);
    }

    // 1. Cash: what the operator recorded = what billing shows = what invoices and credit hold.
    const received = payments.filter((p) => p.method !== 'credit_balance').reduce((a, p) => a + p.amount, 0);
    const returned = payments.filter((p) => p.method !== 'credit_balance').reduce((a, p) => a + (p.refundedAmount ?? 0), 0);
    if (received !== org.cashIn) fail('1 cash', `the operator recorded ${org.cashIn} ${cur} received, billing shows ${received}`);
    if (returned !== org.cashOut) fail('1 cash', `the operator recorded ${org.cashOut} ${cur} returned, billing shows ${returned}`);
    // A card refund leaves Stripe's invoice paid, and ours (billing-integration.md, "Refunds"): what the invoices
    // hold is what they show paid less what was returned of those payments.
    const applied = invoices.filter((i) => i.status !== 'void').reduce((a, i) => a + i.amountPaid, 0) - (charges ? returned : 0);
    const proration = invoices.filter((i) => i.total < 0).reduce((a, i) => a - i.total, 0);
    const balance = credit[cur] ?? 0;
    if (org.cashIn - org.cashOut !== applied + balance - proration) {
      fail('1 cash', `received − returned = ${org.cashIn - org.cashOut} ${cur}, but paid on invoices${charges ? ' less card refunds' : ''} (${applied}) + credit balance (${balance}) − credit from negative invoices (${proration}) = ${applied + balance - proration}`);
    }
    for (const [currency, amount] of Object.entries(credit)) if (amount < 0) fail('1 cash', `credit balance of ${amount} ${currency}`);

    // 2. Each invoice's arithmetic and status; voided and uncollectible exactly as the operator said.
    for (const i of invoices) {
      if ((i.status === 'void') !== org.voided.has(i.id)) fail('2 invoice', `${i.number}: ${i.status}, and the operator ${org.voided.has(i.id) ? 'voided it' : 'never voided it'}`);
      if (i.status === 'uncollectible' && !org.uncollectible.has(i.id)) fail('2 invoice', `${i.number}: uncollectible, and the operator never marked it`);
      if (org.uncollectible.has(i.id) && i.status !== 'uncollectible' && i.status !== 'paid') fail('2 invoice', `${i.number}: marked uncollectible, now ${i.status}`);
      const lines = (i.lines as { amount: number }[]).reduce((a, l) => a + l.amount, 0);
      const tax = i.tax?.amount ?? 0;
      if (i.subtotal !== undefined && i.subtotal !== lines) fail('2 invoice', `${i.number}: subtotal ${i.subtotal} ≠ Σ lines ${lines}`);
      if (i.total !== lines + tax) fail('2 invoice', `${i.number}: total ${i.total} ≠ Σ lines ${lines} + tax ${tax}`);
      if (i.amountDue !== Math.max(0, i.total)) fail('2 invoice', `${i.number}: amount due ${i.amountDue} with total ${i.total}`);
      if (i.status === 'void') continue;
      const credited = i.amountCredited ?? 0;
      if (i.amountPaid < 0 || i.amountPaid + credited > i.amountDue) fail('2 invoice', `${i.number}: paid ${i.amountPaid} + credited ${credited} > due ${i.amountDue}`);
      const remaining = Math.max(0, i.amountDue - credited - i.amountPaid);
      if (i.amountRemaining !== remaining) fail('2 invoice', `${i.number}: amount remaining ${i.amountRemaining}, due ${i.amountDue} − credited ${credited} − paid ${i.amountPaid} = ${remaining}`);
      const status = remaining === 0 ? 'paid' : i.status === 'uncollectible' ? 'uncollectible' : i.amountPaid > 0 ? 'partially_paid' : 'open';
      if (i.status !== status) fail('2 invoice', `${i.number}: status ${i.status} with ${remaining} remaining and ${i.amountPaid} paid (expected ${status})`);
    }

    // The operator's credit notes: each acknowledged one is on its invoice once, with its amount.
    for (const i of invoices) {
      const notes = ((i.creditNotes ?? []) as { id: string; amount: number; reason: string }[]).filter((n) => n.reason === 'simulated correction');
      const want = org.creditNotes.get(i.id) ?? [];
      if (JSON.stringify(notes.map((n) => n.amount)) !== JSON.stringify(want)) fail('2 invoice', `${i.number}: the operator's credit notes were ${JSON.stringify(want)}, the invoice shows ${JSON.stringify(notes.map((n) => n.amount))}`);
      if (new Set((i.creditNotes ?? []).map((n: { id: string }) => n.id)).size !== (i.creditNotes ?? []).length) fail('2 invoice', `${i.number}: a credit note twice`);
      const credited = (i.creditNotes ?? []).reduce((a: number, n: { amount: number }) => a + n.amount, 0);
      if (credited !== (i.amountCredited ?? 0)) fail('2 invoice', `${i.number}: credited ${i.amountCredited ?? 0}, its credit notes add up to ${credited}`);
    }

    await checkRevenue(driver, fail, invoices, credit, org, at);

    if (charges) {
      checkStripeInvoices(fail, invoices, payments, charges);
      continue;
    }

    // 3. Numbers: 1…N per year, no gap, no duplicate, in issue order.
    const byYear = new Map<string, { n: number; issuedAt: string }[]>();
    for (const i of invoices) {
      const m = invoiceNumber.exec(i.number);
      if (!m) {
        fail('3 numbers', `invoice number ${i.number} is not CM-YYYY-NNNNNN`);
        continue;
      }
      byYear.set(m[1]!, [...(byYear.get(m[1]!) ?? []), { n: Number(m[2]), issuedAt: i.issuedAt }]);
    }
    for (const [year, list] of byYear) {
      list.sort((a, b) => a.n - b.n);
      list.forEach((x, k) => x.n !== k + 1 && fail('3 numbers', `${year}: the ${k + 1}th invoice is numbered ${x.n}`));
      for (let k = 1; k < list.length; k++) if (list[k]!.issuedAt < list[k - 1]!.issuedAt) fail('3 numbers', `${year}: invoice ${list[k]!.n} issued before ${list[k - 1]!.n}`);
    }

    // The model: each charge invoiced once, with the documented amounts, in order.
    const issued = [...invoices].sort((a, b) => (a.issuedAt === b.issuedAt ? a.number.localeCompare(b.number) : a.issuedAt.localeCompare(b.issuedAt)));
    const expected = org.model.invoices;
    if (issued.length !== expected.length) fail('model invoices', `the model expects ${expected.length} invoices (${expected.map((e) => `${e.reason} ${e.total}`).join(', ')}), the platform issued ${issued.length} (${issued.map((i) => `${i.number} ${i.total}`).join(', ')})`);
    for (let k = 0; k < Math.min(issued.length, expected.length); k++) {
      const [i, e] = [issued[k]!, expected[k]!];
      // Each line: its amount and the period it covers (instants compared as instants).
      const line = (l: { amount: number; periodStart?: string | null; periodEnd?: string | null }) => `${l.amount} [${l.periodStart ? new Date(l.periodStart).toISOString() : '-'}, ${l.periodEnd ? new Date(l.periodEnd).toISOString() : '-'})`;
      const lines = (i.lines as { amount: number }[]).map(line).sort();
      const want = e.lines.map(line).sort();
      if (i.total !== e.total || i.tax?.amount !== e.tax || JSON.stringify(lines) !== JSON.stringify(want)) {
        fail('model invoices', `${i.number} (${e.reason} at ${e.at}): the model expects lines ${JSON.stringify(want)}, tax ${e.tax}, total ${e.total}; the platform shows lines ${JSON.stringify(lines)}, tax ${i.tax?.amount}, total ${i.total}`);
      }
    }

    // 4. Usage: the summary equals the recount of acknowledged events not voided.
    // A summary covers at most 400 days: the history is read a year at a time, each edge a few hours from any
    // event (a summary counts whole hours of the organization's zone, which may start at :30 or :45).
    const times = [...org.model.usage.values()].map((u) => Date.parse(u.time));
    const clear = (edge: number) => {
      while (times.some((t) => Math.abs(t - edge) < 2 * 3_600_000)) edge -= 4 * 3_600_000;
      return edge;
    };
    const end = Date.parse(at) + 86_400_000;
    for (let start = Math.min(Date.parse(at), ...times) - 86_400_000; start < end; ) {
      const next = start + 365 * 86_400_000 >= end ? end : clear(start + 365 * 86_400_000);
      const [from, to] = [new Date(start).toISOString(), new Date(next).toISOString()];
      start = next;
      const summary = await driver.call('GET', `/v1/usage/summary?meter=edits&from=${from}&to=${to}`, org.apiKey);
      const want = org.model.usageCount(from, to);
      if (summary.status !== 200 || summary.body.total !== want) fail('4 usage', `edits in [${from}, ${to}): the model counts ${want}, the summary says ${summary.status === 200 ? summary.body.total : `${summary.status} ${summary.text.slice(0, 120)}`}`);
    }

    // The years: closed when the model closed them, on the plan it says, each meter's total as the close and its
    // later adjustments leave it = the recount (late events and voids after the close counted once, and only once).
    const periods = ((await driver.call('GET', '/v1/usage/periods', org.apiKey)).body?.data ?? []) as any[];
    if (periods.length !== org.model.years.length) fail('4 usage', `the model has ${org.model.years.length} subscription years, the platform ${periods.length}`);
    for (const year of org.model.years) {
      const period = periods.find((p) => Date.parse(p.periodStart) === Date.parse(year.start));
      const name = `the year from ${year.start}`;
      if (!period) {
        fail('4 usage', `${name}: no such period on the platform (${periods.map((p) => p.periodStart).join(', ')})`);
        continue;
      }
      if (Date.parse(period.endsAt) !== Date.parse(year.end) || period.planId !== year.planId || period.closed !== year.closed) {
        fail('4 usage', `${name}: the model has it end ${year.end} on ${year.planId}, ${year.closed ? 'closed' : 'open'}; the platform ${period.endsAt} on ${period.planId}, ${period.closed ? 'closed' : 'open'}`);
      }
      if (!year.closed || !period.closed) continue;
      const total = (meter: string) => (period.totals as { meter: string; total: number | null }[] | null)?.find((t) => t.meter === meter)?.total ?? 0;
      const counts = { edits: org.model.usageCount(year.start, year.end), export_jobs: org.model.exportCount(year.start, year.end) };
      for (const [meter, want] of Object.entries(counts)) {
        if (total(meter) !== want) fail('4 usage', `${name}: ${meter} closed and adjusted to ${total(meter)}, the model counts ${want} (adjustments: ${JSON.stringify((period.adjustments as { meter: string }[]).filter((a) => a.meter === meter)).slice(0, 300)})`);
      }
    }
  }
}

/**
 * 7. Revenue: every month from before the first invoice to now, in each currency, recognised + deferred = billed −
 * reversed (each month's closing is the next one's opening, and closing = opening + billed − reversed −
 * recognised); everything billed is every invoice's net amount; the month's journal balances; and the journal's
 * balances over all months are the platform's own figures: cash = received − returned, customer credit = the credit
 * balance, receivables = what the invoices (not void) still ask.
 */
async function checkRevenue(driver: Driver, fail: (invariant: string, detail: string) => void, invoices: any[], credit: Record<string, number>, org: SimOrganization, at: string): Promise<void> {
  if (invoices.length === 0) return;
  const first = new Date(Math.min(...invoices.map((i) => Date.parse(i.issuedAt))) - 31 * 86_400_000);
  const last = new Date(Date.parse(at) + 31 * 86_400_000);
  const totals = new Map<string, { billed: number; reversed: number; recognised: number; closing: number }>();
  const balances = new Map<string, number>();
  for (let y = first.getUTCFullYear(), m = first.getUTCMonth(); y < last.getUTCFullYear() || (y === last.getUTCFullYear() && m <= last.getUTCMonth()); m === 11 ? ((m = 0), y++) : m++) {
    const month = `${y}-${String(m + 1).padStart(2, '0')}`;
    const answer = await driver.call('GET', `/v1/admin/reports/revenue?month=${month}&organizationId=${org.id}`, 'admin');
    if (answer.status !== 200) {
      fail('7 revenue', `${month}: the revenue report answered ${answer.status} ${answer.text.slice(0, 200)}`);
      return;
    }
    for (const row of answer.body.data as { currency: string; openingDeferred: number; billed: number; reversed: number; recognised: number; closingDeferred: number }[]) {
      const t = totals.get(row.currency) ?? { billed: 0, reversed: 0, recognised: 0, closing: 0 };
      if (row.openingDeferred !== t.closing) fail('7 revenue', `${month} ${row.currency}: opening deferred ${row.openingDeferred}, the month before closed at ${t.closing}`);
      if (row.closingDeferred !== row.openingDeferred + row.billed - row.reversed - row.recognised) fail('7 revenue', `${month} ${row.currency}: closing ${row.closingDeferred} ≠ opening ${row.openingDeferred} + billed ${row.billed} − reversed ${row.reversed} − recognised ${row.recognised}`);
      totals.set(row.currency, { billed: t.billed + row.billed, reversed: t.reversed + row.reversed, recognised: t.recognised + row.recognised, closing: row.closingDeferred });
      const after = totals.get(row.currency)!;
      if (after.recognised + after.closing !== after.billed - after.reversed) fail('7 revenue', `${month} ${row.currency}: recognised ${after.recognised} + deferred ${after.closing} ≠ billed ${after.billed} − reversed ${after.reversed}`);
    }
    const journal = await driver.call('GET', `/v1/admin/reports/journal?month=${month}&organizationId=${org.id}`, 'admin');
    const sides = new Map<string, number>();
    for (const line of journal.text.trim().split(/\r?\n/).slice(1)) {
      const [, , currency, account, debit, creditSide] = line.split(',');
      if (!currency) continue;
      const amount = Number(debit) - Number(creditSide);
      sides.set(currency, (sides.get(currency) ?? 0) + amount);
      balances.set(`${currency}|${account}`, (balances.get(`${currency}|${account}`) ?? 0) + amount);
    }
    for (const [currency, difference] of sides) if (difference !== 0) fail('7 revenue', `${month} ${currency}: the journal's debits exceed its credits by ${difference}`);
  }
  const billed = new Map<string, number>();
  for (const i of invoices) billed.set(i.currency, (billed.get(i.currency) ?? 0) + (i.subtotal ?? 0));
  for (const [currency, amount] of billed) if ((totals.get(currency)?.billed ?? 0) !== amount) fail('7 revenue', `${currency}: the invoices bill ${amount} net, the revenue report ${totals.get(currency)?.billed ?? 0}`);
  const cur = org.model.currency;
  const balance = (account: string) => balances.get(`${cur}|${account}`) ?? 0;
  if (balance('cash') !== org.cashIn - org.cashOut) fail('7 revenue', `the journal's cash is ${balance('cash')} ${cur}, received − returned is ${org.cashIn - org.cashOut}`);
  if (-balance('customer_credit') !== (credit[cur] ?? 0)) fail('7 revenue', `the journal's customer credit is ${-balance('customer_credit')} ${cur}, the credit balance ${credit[cur] ?? 0}`);
  const owed = invoices.filter((i) => i.status !== 'void' && i.currency === cur).reduce((a, i) => a + i.amountRemaining, 0);
  if (balance('receivables') !== owed) fail('7 revenue', `the journal's receivables are ${balance('receivables')} ${cur}, the invoices ask ${owed}`);
}

/** A card customer's invoices and payments are Stripe's: each invoice once, with its lines and total, paid; each charge one payment. */
function checkStripeInvoices(fail: (invariant: string, detail: string) => void, invoices: any[], payments: any[], charges: StripeCharge[]): void {
  for (const c of charges) {
    const shown = invoices.filter((i) => i.number === c.number);
    if (shown.length !== 1) {
      fail('model invoices', `Stripe's invoice ${c.number} (${c.reason}, total ${c.total}) is shown ${shown.length} times`);
      continue;
    }
    const i = shown[0]!;
    const lines = (i.lines as { amount: number }[]).map((l) => l.amount).sort((a, b) => a - b);
    const want = c.lines.map((l) => l.amount).sort((a, b) => a - b);
    if (i.total !== c.total || JSON.stringify(lines) !== JSON.stringify(want) || i.status !== 'paid' || i.amountPaid !== c.total) {
      fail('model invoices', `Stripe's invoice ${c.number} (${c.reason}): lines ${JSON.stringify(want)}, total ${c.total}, paid; the platform shows lines ${JSON.stringify(lines)}, total ${i.total}, ${i.status}, paid ${i.amountPaid}`);
    }
    if (c.refunded !== c.asked) fail('1 cash', `Stripe's charge ${c.intent}: the operator asked to refund ${c.asked}, Stripe refunded ${c.refunded}`);
    const payment = payments.filter((p) => p.id === c.intent);
    if (payment.length !== 1 || payment[0].amount !== c.total || (payment[0].refundedAmount ?? 0) !== c.refunded || payment[0].invoiceId !== i.id) {
      fail('1 cash', `Stripe's charge ${c.intent} of ${c.total} (${c.refunded} refunded) for ${c.number}: the platform shows ${JSON.stringify(payment).slice(0, 400)}`);
    }
  }
  for (const i of invoices) if (!charges.some((c) => c.number === i.number)) fail('model invoices', `${i.number} (total ${i.total}): an invoice Stripe never issued`);
  for (const p of payments) if (p.method !== 'credit_balance' && !charges.some((c) => c.intent === p.id)) fail('1 cash', `payment ${p.id} of ${p.amount}: a charge Stripe never made`);
}

/** What a message is about, `<type> <id>`: one message (one `webhook-id`) per invoice issued, per payment received. */
const subjectOf = (body: string): string | null => {
  const { type = '', data = {} } = JSON.parse(body) as { type?: string; data?: Record<string, unknown> };
  if (type === 'invoice.issued') return `${type} ${String(data['invoiceId'])}`;
  if (type === 'payment.received') return `${type} ${String(data['paymentId'])}`;
  return null;
};

/**
 * 5. Webhooks: each invoice issued and each payment received is one message (one id, whatever the retries),
 * delivered at least once, with the same body on every attempt; none for an invoice or payment that does not exist.
 */
async function checkWebhooks(driver: Driver, orgs: SimOrganization[], books: Map<string, Books>, delivered: DeliveredTo): Promise<void> {
  const owed = (org: SimOrganization) => {
    const { invoices, payments } = books.get(org.id)!;
    return [...invoices.map((i) => `invoice.issued ${i.id}`), ...payments.filter((p) => p.method !== 'credit_balance').map((p) => `payment.received ${p.id}`)];
  };
  const got = (org: SimOrganization) => new Set(delivered(org).map((d) => subjectOf(d.body)));
  // Deliveries are asynchronous (and a refused first attempt comes again): wait a while for what is owed.
  for (let i = 0; i < 300 && orgs.some((o) => owed(o).some((k) => !got(o).has(k))); i++) await sleep(200);
  for (const org of orgs) {
    const fail = (detail: string) => driver.violation('5 notifications', `${org.model.name}: ${detail}`);
    const bodies = new Map<string, string>();
    const ids = new Map<string, Set<string>>();
    for (const d of delivered(org)) {
      if (bodies.has(d.id) && bodies.get(d.id) !== d.body) fail(`message ${d.id} delivered with two bodies`);
      bodies.set(d.id, d.body);
      const subject = subjectOf(d.body);
      if (subject !== null) ids.set(subject, (ids.get(subject) ?? new Set()).add(d.id));
    }
    const expected = new Set(owed(org));
    const missing = [...expected].filter((key) => !ids.has(key));
    if (missing.length) {
      // What the platform's delivery log says of them, to tell a message never made from one never delivered.
      const [endpoint] = (await driver.call('GET', '/v1/webhook-endpoints', org.apiKey)).body?.data ?? [];
      const log = endpoint ? await driver.list(`/v1/webhook-endpoints/${endpoint.id}/deliveries`, org.apiKey) : [];
      const status = endpoint ? `endpoint ${endpoint.status}${endpoint.disabledReason ? ` (${endpoint.disabledReason})` : ''}; ` : 'no endpoint; ';
      for (const key of missing) {
        const entry = log.find((m) => JSON.stringify(m).includes(key.split(' ')[1]!));
        fail(`${key}: no webhook delivered (${status}${entry ? `the log has ${JSON.stringify(entry).slice(0, 300)}` : 'no message in the delivery log'})`);
      }
    }
    // An overdue notice names an invoice that exists and was due by the end of the history.
    const { invoices } = books.get(org.id)!;
    for (const d of delivered(org)) {
      const { type, data = {} } = JSON.parse(d.body) as { type?: string; data?: Record<string, unknown> };
      if (type !== 'invoice.overdue') continue;
      const invoice = invoices.find((i) => i.id === data['invoiceId']);
      if (!invoice) fail(`invoice.overdue ${String(data['invoiceId'])}: a notice about an invoice that does not exist`);
      else if (invoice.dueAt && Date.parse(invoice.dueAt) > Date.parse(String(data['dueAt']))) fail(`invoice.overdue ${invoice.number}: noticed as due ${String(data['dueAt'])}, the invoice is due ${invoice.dueAt}`);
    }
    for (const [key, set] of ids) {
      if (!expected.has(key)) fail(`${key}: a webhook for something that did not happen`);
      if (set.size > 1) fail(`${key}: ${set.size} messages (ids ${[...set].join(', ')}) for one event`);
    }
  }
}

// Our numbers (CM-YYYY-NNNNNN), or Stripe's for the invoices it issued.
const issuedSubject = /^Invoice (\S+) from CurbMap$/;
const overdueSubject = /^Invoice (\S+) is overdue$/;

/**
 * 5. E-mails: each invoice issued is one mail (one Message-ID, whatever the retries) with its PDF, each payment
 * received one receipt; no mail about an invoice that does not exist; a Message-ID never names two mails.
 */
async function checkMails(driver: Driver, orgs: SimOrganization[], books: Map<string, Books>, mails: (org: SimOrganization) => Mail[]): Promise<void> {
  const received = (org: SimOrganization) => {
    const subjects = new Map<string, Mail>();
    for (const m of mails(org)) subjects.set(m.messageId, m);
    return subjects;
  };
  const complete = (org: SimOrganization) => {
    const { invoices, payments } = books.get(org.id)!;
    const subjects = [...received(org).values()].map((m) => m.subject);
    return invoices.every((i) => subjects.includes(`Invoice ${i.number} from CurbMap`)) && subjects.filter((s) => s.startsWith('Payment received:')).length >= payments.filter((p) => p.method !== 'credit_balance').length;
  };
  // Mail goes out asynchronously (the PDF is rendered first): wait a while for what is owed.
  for (let i = 0; i < 300 && orgs.some((o) => !complete(o)); i++) await sleep(200);
  for (const org of orgs) {
    const fail = (detail: string) => driver.violation('5 notifications', `${org.model.name}: ${detail}`);
    const { invoices, payments } = books.get(org.id)!;
    const numbers = new Set(invoices.map((i) => i.number as string));
    for (const m of mails(org)) {
      const first = received(org).get(m.messageId)!;
      if (first.subject !== m.subject) fail(`Message-ID ${m.messageId} on two mails: "${first.subject}" and "${m.subject}"`);
    }
    const issued = new Map<string, Mail[]>();
    let receipts = 0;
    for (const m of received(org).values()) {
      const number = issuedSubject.exec(m.subject)?.[1] ?? overdueSubject.exec(m.subject)?.[1];
      if (number && !numbers.has(number)) fail(`a mail "${m.subject}" about an invoice that does not exist`);
      if (issuedSubject.test(m.subject)) issued.set(number!, [...(issued.get(number!) ?? []), m]);
      if (m.subject.startsWith('Payment received:')) receipts += 1;
    }
    for (const number of numbers) {
      const sent = issued.get(number) ?? [];
      if (sent.length !== 1) fail(`invoice ${number}: ${sent.length} mails (${sent.map((m) => m.messageId).join(', ')}), one expected`);
      else if (!sent[0]!.attachments.includes(`${number}.pdf`)) fail(`invoice ${number}: its mail has no PDF (attachments: ${sent[0]!.attachments.join(', ') || 'none'})`);
    }
    const paid = payments.filter((p) => p.method !== 'credit_balance');
    if (receipts !== paid.length) {
      // Which: a receipt names its invoice; the invoices whose payments and receipts differ in number.
      const off = invoices.flatMap((i) => {
        const on = paid.filter((p) => p.invoiceId === i.id);
        const mailed = [...received(org).values()].filter((m) => m.subject.startsWith('Payment received:') && m.text.includes(`for invoice ${i.number}.`)).length;
        return on.length === mailed ? [] : [`${i.number}: ${on.length} payments (${on.map((p) => p.id).join(', ')}), ${mailed} receipts`];
      });
      fail(`${paid.length} payments received, ${receipts} receipts mailed (${off.join('; ') || 'payments on no invoice'})`);
    }
  }
}
