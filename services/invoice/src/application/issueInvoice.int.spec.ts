import { afterEach, beforeEach, expect, it } from 'vitest';
import type { StoredEvent } from '@curbmap/eventsourcing';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';
import { deterministicUuid, handleCommand } from '@curbmap/eventsourcing';
import { invoiceDecider, invoiceStream } from '../domain/invoice/invoiceDecider.ts';
import { issueInvoiceFor } from './issueInvoice.ts';

let p: TestPlatform;
let clock: Date;
beforeEach(async () => {
  clock = new Date('2027-12-31T18:00:00Z');
  p = await startTestPlatform({ now: () => clock });
});
afterEach(() => p.close());

const terms = { collectionMethod: 'send_invoice' as const, daysUntilDue: 30, poNumber: null };
const lines = [{ description: '1 × City (annual)', quantity: 1, unitAmount: 360_000, amount: 360_000, periodStart: '2027-12-31T06:00:00.000Z', periodEnd: '2028-12-31T06:00:00.000Z' }];

it('issues an invoice when its reaction runs, not when its cause happened: dated and numbered that day', async () => {
  const org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
  // A cause of 31 December (Chicago) whose reaction runs on 3 January, after an outage.
  const cause = { id: '0f6d3a3e-8c1e-4d5e-9d7f-4a1b2c3d4e5f', type: 'billing.subscription.activated', organizationId: org.id, occurredAt: '2027-12-31T18:00:00.000Z', correlationId: 'c' } as StoredEvent;
  clock = new Date('2028-01-03T15:00:00Z');
  await issueInvoiceFor(p.ctx, cause, { idPrefix: 'test', action: 'test-invoice' }, { subscriptionId: null, currency: 'USD', lines, terms });
  // Redelivered a day later: the same invoice, number and date.
  clock = new Date('2028-01-04T15:00:00Z');
  await issueInvoiceFor(p.ctx, cause, { idPrefix: 'test', action: 'test-invoice' }, { subscriptionId: null, currency: 'USD', lines, terms });
  await p.settle();
  const invoices = (await p.app.inject({ url: '/v1/invoices', headers: { authorization: `Bearer ${org.apiKey}` } })).json().data;
  expect(invoices).toHaveLength(1);
  expect(invoices[0]).toMatchObject({ number: 'CM-2028-000001', issuedAt: '2028-01-03T15:00:00.000Z' });
  expect(Date.parse(invoices[0].dueAt)).toBeGreaterThan(Date.parse('2028-02-02T00:00:00Z'));
});

it('a redelivery finishes an invoice whose number was reserved at the reservation\'s time, in that year', async () => {
  const org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
  const cause = { id: '1f6d3a3e-8c1e-4d5e-9d7f-4a1b2c3d4e5f', type: 'billing.subscription.activated', organizationId: org.id, occurredAt: '2027-12-31T18:00:00.000Z', correlationId: 'c' } as StoredEvent;
  await issueInvoiceFor(p.ctx, cause, { idPrefix: 'test', action: 'test-invoice' }, { subscriptionId: null, currency: 'USD', lines, terms });
  clock = new Date('2028-01-02T15:00:00Z');
  await issueInvoiceFor(p.ctx, cause, { idPrefix: 'test', action: 'test-invoice' }, { subscriptionId: null, currency: 'USD', lines, terms });
  await p.settle();
  const invoices = (await p.app.inject({ url: '/v1/invoices', headers: { authorization: `Bearer ${org.apiKey}` } })).json().data;
  expect(invoices.map((i: { number: string; issuedAt: string }) => [i.number, i.issuedAt])).toEqual([['CM-2027-000001', '2027-12-31T18:00:00.000Z']]);
});

it('a redelivery of a cause whose first run stopped after the draft issues the invoice when it runs, numbered in that year', async () => {
  const org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
  const cause = { id: '2f6d3a3e-8c1e-4d5e-9d7f-4a1b2c3d4e5f', type: 'billing.subscription.activated', organizationId: org.id, occurredAt: '2027-12-31T18:00:00.000Z', correlationId: 'c' } as StoredEvent;
  // The first run drew the invoice up on 31 December, then failed before its number (parked as a dead letter).
  const invoiceId = deterministicUuid(`test:${cause.id}`);
  await handleCommand(p.ctx.store, invoiceDecider, invoiceStream(invoiceId), {
    type: 'DraftInvoice',
    data: { invoiceId, subscriptionId: null, currency: 'USD', lines, collectionMethod: 'send_invoice', daysUntilDue: 30, poNumber: null, sourceEventId: cause.id, sourceEventType: cause.type, tax: { rateBasisPoints: 0, mode: 'exclusive', note: null }, timeZone: 'America/Chicago' },
    metadata: { commandId: 'first-run', now: clock.toISOString(), organizationId: org.id },
  });
  clock = new Date('2028-01-05T15:00:00Z'); // retried days later
  await issueInvoiceFor(p.ctx, cause, { idPrefix: 'test', action: 'test-invoice' }, { subscriptionId: null, currency: 'USD', lines, terms });
  await p.settle();
  const invoices = (await p.app.inject({ url: '/v1/invoices', headers: { authorization: `Bearer ${org.apiKey}` } })).json().data;
  expect(invoices.map((i: { number: string; issuedAt: string }) => [i.number, i.issuedAt])).toEqual([['CM-2028-000001', '2028-01-05T15:00:00.000Z']]);
});
