import { describe, it } from 'vitest';
import type { CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { creditDecider, type CreditCommand, type CreditEvent } from './creditDecider.ts';

const metadata: CommandMetadata = { commandId: 'c', now: '2027-01-01T00:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const INV = '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9';
const cmd = (c: Omit<CreditCommand, 'metadata'>) => ({ ...c, metadata }) as CreditCommand;
const granted: CreditEvent = { type: 'billing.credit.granted', data: { amount: 20_000, currency: 'USD', sourcePaymentId: 'pay_1' } };
const spec = deciderSpec(creditDecider);

describe('credit decider', () => {
  it('spends credit on an invoice up to what it owes and what the balance holds', () => {
    spec.given([granted]).when(cmd({ type: 'ApplyCredit', data: { invoiceId: INV, currency: 'USD', upTo: 5_000 } })).then([{ type: 'billing.credit.applied', data: { amount: 5_000, currency: 'USD', invoiceId: INV } }]);
    spec.given([granted]).when(cmd({ type: 'ApplyCredit', data: { invoiceId: INV, currency: 'USD', upTo: 90_000 } })).then([{ type: 'billing.credit.applied', data: { amount: 20_000, currency: 'USD', invoiceId: INV } }]);
    // New credit may settle more of an invoice it already paid part of (each source event applies once, by command id).
    const applied: CreditEvent = { type: 'billing.credit.applied', data: { amount: 5_000, currency: 'USD', invoiceId: INV } };
    spec.given([granted, applied]).when(cmd({ type: 'ApplyCredit', data: { invoiceId: INV, currency: 'USD', upTo: 90_000 } })).then([{ type: 'billing.credit.applied', data: { amount: 15_000, currency: 'USD', invoiceId: INV } }]);
    spec.given([granted, { ...applied, data: { ...applied.data, amount: 20_000 } }]).when(cmd({ type: 'ApplyCredit', data: { invoiceId: INV, currency: 'USD', upTo: 5_000 } })).then([]);
  });

  it('keeps currencies apart and does nothing without a balance', () => {
    spec.given([granted]).when(cmd({ type: 'ApplyCredit', data: { invoiceId: INV, currency: 'EUR', upTo: 5_000 } })).then([]);
    spec.given([]).when(cmd({ type: 'ApplyCredit', data: { invoiceId: INV, currency: 'USD', upTo: 5_000 } })).then([]);
    spec.given([]).when(cmd({ type: 'GrantCredit', data: { amount: 0, currency: 'USD', sourcePaymentId: 'p' } })).then([]);
  });
});
