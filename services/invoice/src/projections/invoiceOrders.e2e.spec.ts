import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDatabase, SqliteReadStore, type StoredEvent } from '@curbmap/eventsourcing';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { invoiceCollections, invoicesProjection, type InvoiceView } from './invoiceProjections.ts';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform({ now: () => new Date('2027-03-10T15:30:00Z') });
});
afterEach(() => p.close());

/** Every order of the events that keeps each stream's own order (what Kafka guarantees: per partition, not across). */
function* interleavings(streams: StoredEvent[][]): Generator<StoredEvent[]> {
  if (streams.every((s) => s.length === 0)) return yield [];
  for (let i = 0; i < streams.length; i++) {
    if (streams[i]!.length === 0) continue;
    const [head, ...rest] = streams[i]!;
    for (const tail of interleavings(streams.map((s, j) => (j === i ? rest : s)))) yield [head!, ...tail];
  }
}

describe('the invoice read model, whatever order Kafka delivers billing\'s and the invoice service\'s events in', () => {
  it('never shows a paid invoice partially paid while a credit note moves part of its payment to credit', async () => {
    const org = await p.createOrganization();
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    await p.app.inject({ method: 'POST', url: '/v1/subscription', headers, payload: { planId: 'city', seats: 3 } });
    await p.settle();
    const [invoice] = (await p.app.inject({ url: '/v1/invoices', headers })).json().data as { id: string; total: number }[];
    const paid = await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice!.id}/payments`, headers: admin, payload: { amount: invoice!.total, currency: 'USD', reference: 'W1', receivedAt: '2027-03-20T00:00:00Z' } });
    expect(paid.statusCode).toBe(201);
    await p.settle();
    expect((await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice!.id}/credit-notes`, headers: admin, payload: { amount: 20_000, reason: 'two seats unused' } })).statusCode).toBe(201);
    await p.settle();
    const final = (await p.app.inject({ url: `/v1/invoices/${invoice!.id}`, headers })).json();
    expect(final).toMatchObject({ status: 'paid', amountPaid: invoice!.total - 20_000, amountCredited: 20_000, amountRemaining: 0 });

    // The events this read model takes, per stream, as they are in the log.
    const streams = new Map<string, StoredEvent[]>();
    for await (const e of p.ctx.store.readAll({ filter: invoicesProjection.filter })) if (e.organizationId === org.id) streams.set(e.streamId, [...(streams.get(e.streamId) ?? []), e]);
    expect([...streams.values()].flat().map((e) => e.type).sort()).toEqual(['billing.payment.succeeded', 'billing.receivable.credited', 'invoice.credit_note.issued', 'invoice.invoice.finalized']);

    let orders = 0;
    const dir = mkdtempSync(join(tmpdir(), 'curbmap-orders-'));
    try {
      for (const order of interleavings([...streams.values()])) {
        const database = new SqliteDatabase(join(dir, `${orders++}.db`));
        const readStore = new SqliteReadStore(database);
        const seen: string[] = [];
        for (const event of order) {
          await readStore.transaction((tx) => invoicesProjection.apply(event, tx));
          seen.push(event.type);
          const view = await readStore.get<InvoiceView>(invoiceCollections.invoices, invoice!.id);
          if (view && seen.includes('billing.payment.succeeded')) {
            // Once the payment is in, the invoice is paid, before and after the credit note, in this order too.
            expect([view.status, view.amountRemaining], seen.join(' → ')).toEqual(['paid', 0]);
          }
        }
        const view = await readStore.get<InvoiceView>(invoiceCollections.invoices, invoice!.id);
        // Once all is in: paid + credited ≤ total, the same in every order.
        expect(view, order.map((e) => e.type).join(' → ')).toMatchObject({ status: 'paid', amountPaid: final.amountPaid, amountCredited: 20_000, amountRemaining: 0 });
        expect(view!.amountPaid + view!.amountCredited!).toBeLessThanOrEqual(view!.amountDue);
        database.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(orders).toBeGreaterThan(1);
  });
});
