import { describe, expect, it } from 'vitest';
import { EventRegistry } from '../eventRegistry.ts';
import { invoiceContracts } from './invoice.ts';

const registry = new EventRegistry().register(...invoiceContracts);

describe('invoice events written by earlier versions', () => {
  it('read an invoice finalized before tax as untaxed: its subtotal is its total, and it validates at the current version', () => {
    const v1 = { invoiceId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01', number: 'CM-2026-ABCDEF01', subscriptionId: null, currency: 'USD', lines: [], total: 1500, amountDue: 1500, collectionMethod: 'send_invoice', poNumber: null, issuedAt: '2026-05-10T12:00:00.000Z', dueAt: null, sourceEventId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a02', sourceEventType: 'billing.subscription.activated' };
    const upcast = registry.upcast({ type: 'invoice.invoice.finalized', schemaVersion: 1, data: v1 });
    expect(upcast).toMatchObject({ schemaVersion: 2, data: { total: 1500, subtotal: 1500, tax: { rateBasisPoints: 0, mode: 'exclusive', note: null, amount: 0 } } });
    expect(() => registry.validate({ type: 'invoice.invoice.finalized', data: upcast.data })).not.toThrow();
  });
});
