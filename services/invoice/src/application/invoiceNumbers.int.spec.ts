import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';
import { assignInvoiceNumber } from './invoiceNumbers.ts';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform();
});
afterEach(() => p.close());

const meta = (organizationId: string) => ({ commandId: randomUUID(), now: new Date().toISOString(), organizationId });

describe('invoice numbers', () => {
  it('are gap-free and never shared when many invoices are finalized at once; an invoice keeps its number', async () => {
    const org = await p.createOrganization('Metro', { timeZone: 'America/Chicago' });
    await p.settle();
    const invoices = Array.from({ length: 40 }, () => randomUUID());
    const numbers = await Promise.all(invoices.map((id) => assignInvoiceNumber(p.ctx, meta(org.id), id, '2027-06-01T12:00:00Z')));
    expect([...numbers].sort()).toEqual(Array.from({ length: 40 }, (_, i) => `CM-2027-${String(i + 1).padStart(6, '0')}`));
    // Asked again (a redelivered cause, after a crash before finalization): the same number, no new one.
    expect(await assignInvoiceNumber(p.ctx, meta(org.id), invoices[7]!, '2027-06-01T12:00:00Z')).toBe(numbers[7]);
    expect(await assignInvoiceNumber(p.ctx, meta(org.id), randomUUID(), '2027-06-02T12:00:00Z')).toBe('CM-2027-000041');
    // Another organization counts on its own.
    const other = await p.createOrganization('Shelbyville');
    await p.settle();
    expect(await assignInvoiceNumber(p.ctx, meta(other.id), randomUUID(), '2027-06-01T12:00:00Z')).toBe('CM-2027-000001');
  });

  it('count per year of the organization\'s time zone', async () => {
    const org = await p.createOrganization('Metro', { timeZone: 'America/Chicago' });
    await p.settle();
    // 23:30 on New Year's Eve in Chicago is already 2028 in UTC: still a 2027 invoice.
    expect(await assignInvoiceNumber(p.ctx, meta(org.id), randomUUID(), '2028-01-01T05:30:00Z')).toBe('CM-2027-000001');
    expect(await assignInvoiceNumber(p.ctx, meta(org.id), randomUUID(), '2028-01-01T06:30:00Z')).toBe('CM-2028-000001');
  });
});
