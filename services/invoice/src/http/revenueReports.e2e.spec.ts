import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
let clock: Date;
beforeEach(async () => {
  // Local midnight of 1 January 2028 in Chicago: the subscription year is the leap year 2028, 366 days.
  clock = new Date('2028-01-01T06:00:00Z');
  p = await startTestPlatform({ now: () => clock });
});
afterEach(() => p.close());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
type Row = { organizationId: string; currency: string; openingDeferred: number; billed: number; reversed: number; recognised: number; closingDeferred: number };
type Entry = { date: string; organization_id: string; currency: string; account: string; debit: string; credit: string; source_event_id: string; memo: string };
const months = Array.from({ length: 12 }, (_, m) => `2028-${String(m + 1).padStart(2, '0')}`);

/** A CSV with simple fields as objects (the memo column is last and may hold no comma here). */
const parseCsv = (csv: string) => {
  const [header, ...rows] = csv.trim().split(/\r?\n/).map((r) => r.split(','));
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ''])));
};

describe('revenue schedules and the journal', () => {
  it('recognise a prepaid year day by day, reverse a credit note from its date, and balance the books month by month', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const call = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, h: Record<string, string> = headers) => p.app.inject({ method, url, headers: h, ...(payload ? { payload } : {}) });
    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 1 })).statusCode).toBe(201);
    await p.settle();
    const [fee] = (await call('GET', '/v1/invoices')).json().data as { id: string; total: number; lines: { amount: number; periodStart: string; periodEnd: string }[] }[];
    expect(fee!.lines[0]).toMatchObject({ amount: 360_000, periodStart: '2028-01-01T06:00:00.000Z', periodEnd: '2029-01-01T06:00:00.000Z' });

    // Paid by transfer on 20 January; on 15 March a credit note of 36,600 (the invoice was paid: it becomes credit);
    // on 10 April 10,000 of the transfer is sent back (the invoice is owed that again).
    clock = new Date('2028-01-20T15:00:00Z');
    const paid = await call('POST', `/v1/admin/invoices/${fee!.id}/payments`, { amount: 360_000, currency: 'USD', reference: 'WIRE-1', receivedAt: clock.toISOString() }, admin);
    expect(paid.statusCode, paid.body).toBe(201);
    clock = new Date('2028-03-15T18:00:00Z');
    expect((await call('POST', `/v1/admin/invoices/${fee!.id}/credit-notes`, { amount: 36_600, reason: 'service outage' }, admin)).statusCode).toBe(201);
    await p.settle();
    clock = new Date('2028-04-10T15:00:00Z');
    const refund = await call('POST', `/v1/admin/payments/${paid.json().id}/refunds`, { amount: 10_000, reference: 'RET-1', refundedAt: clock.toISOString() }, admin);
    expect(refund.statusCode, refund.body).toBe(201);
    // A second seat from local noon on 1 July: prorated for the rest of the year, settled first from the credit.
    clock = new Date('2028-07-01T17:00:00Z');
    expect((await call('PATCH', '/v1/subscription', { seats: 2 })).statusCode).toBe(200);
    await p.settle();

    const report = async (month: string) => {
      const answer = await call('GET', `/v1/admin/reports/revenue?month=${month}&organizationId=${org.id}`, undefined, admin);
      expect(answer.statusCode, answer.body).toBe(200);
      return (answer.json().data as Row[])[0]!;
    };
    // Hand-computed: 360,000 over 366 days; January's 31 days round(360,000 × 31 / 366) = 30,492.
    expect(await report('2028-01')).toEqual({ organizationId: org.id, currency: 'USD', openingDeferred: 0, billed: 360_000, reversed: 0, recognised: 30_492, closingDeferred: 329_508 });
    // March: the line's 30,492 (days 61–91) less the credit note's January to March at once (36,600 × 91 / 366 = 9,100).
    expect(await report('2028-03')).toMatchObject({ billed: 0, reversed: 36_600, recognised: 30_492 - 9_100 });
    // A refund that reopens the invoice reverses no revenue.
    expect(await report('2028-04')).toMatchObject({ reversed: 0 });

    const invoices = (await call('GET', '/v1/invoices')).json().data as { id: string; subtotal: number; amountRemaining: number; lines: { amount: number }[] }[];
    const proration = invoices.find((i) => i.id !== fee!.id)!;
    const eventIds = new Set<string>();
    for await (const e of p.ctx.store.readAll()) eventIds.add(e.id);
    let opening = 0;
    let recognised = 0;
    const balances = new Map<string, number>();
    for (const month of months) {
      const row = await report(month);
      expect(row.openingDeferred, month).toBe(opening);
      expect(row.closingDeferred).toBe(row.openingDeferred + row.billed - row.reversed - row.recognised);
      opening = row.closingDeferred;
      recognised += row.recognised;
      const journal = await call('GET', `/v1/admin/reports/journal?month=${month}&organizationId=${org.id}`, undefined, admin);
      expect(journal.headers['content-type']).toMatch(/^text\/csv/);
      const entries = parseCsv(journal.body) as Entry[];
      const sum = (side: 'debit' | 'credit') => entries.reduce((s, e) => s + Number(e[side]), 0);
      expect(sum('debit'), month).toBe(sum('credit'));
      for (const e of entries) balances.set(e.account, (balances.get(e.account) ?? 0) + Number(e.debit) - Number(e.credit));
      expect(entries.every((e) => eventIds.has(e.source_event_id) && e.date.startsWith(month))).toBe(true);
      // Until the second seat's invoice takes it in July, the credit note's 36,600 is the customer's credit; from
      // April the refunded 10,000 is owed again.
      if (month === '2028-06') expect(balances.get('customer_credit')).toBe(-36_600);
      if (month === '2028-06') expect(balances.get('receivables')).toBe(10_000);
    }
    // By the year's end everything billed is recognised: recognised + deferred = billed − reversed.
    expect(opening).toBe(0);
    expect(recognised).toBe(360_000 + proration.subtotal - 36_600);
    // The journal's balances are the platform's own figures.
    expect(balances.get('revenue')).toBe(-recognised);
    expect(balances.get('deferred_revenue') ?? 0).toBe(0);
    expect(balances.get('receivables')).toBe(invoices.reduce((s, i) => s + i.amountRemaining, 0));
    expect(0 - (balances.get('customer_credit') ?? 0)).toBe((await call('GET', '/v1/credit-balance')).json().balances.USD ?? 0);
    expect(balances.get('cash')).toBe(360_000 - 10_000);

    // Other months, other organizations: empty; bad input: a problem; a customer key: refused.
    expect((await call('GET', '/v1/admin/reports/revenue?month=2027-12', undefined, admin)).json().data.filter((r: Row) => r.organizationId === org.id)).toEqual([]);
    expect((await call('GET', '/v1/admin/reports/revenue?month=2028-13', undefined, admin)).statusCode).toBe(400);
    expect((await call('GET', '/v1/admin/reports/revenue?month=2028-01')).statusCode).toBe(401);
    const csv = parseCsv((await call('GET', `/v1/admin/reports/revenue.csv?month=2028-01&organizationId=${org.id}`, undefined, admin)).body);
    expect(csv).toEqual([{ organization_id: org.id, currency: 'USD', opening_deferred: '0', billed: '360000', reversed: '0', recognised: '30492', closing_deferred: '329508' }]);
  });
});
