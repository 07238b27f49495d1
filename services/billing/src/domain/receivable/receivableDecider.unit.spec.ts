import { describe, expect, it } from 'vitest';
import { IllegalStateError, NotFoundError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { receivableDecider, type ReceivableCommand, type ReceivableEvent } from './receivableDecider.ts';

const INV = '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9';
const metadata: CommandMetadata = { commandId: 'c', now: '2027-04-01T10:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const cmd = (c: Omit<ReceivableCommand, 'metadata'>) => ({ ...c, metadata }) as ReceivableCommand;
const opened: ReceivableEvent = { type: 'billing.receivable.opened', data: { invoiceId: INV, subscriptionId: null, amountDue: 100_000, currency: 'USD', dueAt: '2027-04-30T00:00:00.000Z', collectionMethod: 'send_invoice' } };
const transfer = (paymentId: string, amount: number, reference: string) => cmd({ type: 'RecordBankTransfer', data: { paymentId, amount, currency: 'USD', reference, receivedAt: '2027-04-01T10:00:00.000Z' } });
const paid = (paymentId: string, amount: number, applied: number, remaining: number, reference: string): ReceivableEvent => ({
  type: 'billing.payment.succeeded',
  data: { paymentId, invoiceId: INV, amount, currency: 'USD', method: 'bank_transfer', reference, receivedAt: '2027-04-01T10:00:00.000Z', provider: 'manual', providerPaymentId: null, appliedAmount: applied, excessAmount: amount - applied, amountRemaining: remaining },
});
const spec = deciderSpec(receivableDecider);

describe('receivable decider', () => {
  it('opens once per invoice', () => {
    spec.given([]).when(cmd({ type: 'OpenReceivable', data: opened.data as never })).then([opened]);
    spec.given([opened]).when(cmd({ type: 'OpenReceivable', data: opened.data as never })).then([]);
  });

  it('applies an under-payment and leaves the rest owed', () => {
    spec.given([opened]).when(transfer('p1', 40_000, 'W1')).then([paid('p1', 40_000, 40_000, 60_000, 'W1')]);
  });

  it('settles with an over-payment and reports the excess', () => {
    spec.given([opened, paid('p1', 40_000, 40_000, 60_000, 'W1')]).when(transfer('p2', 75_000, 'W2')).then([paid('p2', 75_000, 60_000, 0, 'W2')]);
  });

  it('refuses a duplicate reference, another currency, a paid invoice and an unknown one', () => {
    spec.given([opened, paid('p1', 40_000, 40_000, 60_000, 'W1')]).when(transfer('p2', 1, 'W1')).thenThrows(IllegalStateError, /already recorded/);
    spec.given([opened]).when(cmd({ type: 'RecordBankTransfer', data: { paymentId: 'p', amount: 1, currency: 'EUR', reference: 'W', receivedAt: '2027-04-01T10:00:00.000Z' } })).thenThrows(ValidationError, /USD/);
    spec.given([opened, paid('p1', 100_000, 100_000, 0, 'W1')]).when(transfer('p2', 1, 'W2')).thenThrows(IllegalStateError, /already paid/);
    spec.given([]).when(transfer('p1', 1, 'W1')).thenThrows(NotFoundError, /invoice/);
  });

  it('records credit taken for an invoice a transfer already paid as excess, so it returns to the balance', () => {
    spec
      .given([opened, paid('p1', 100_000, 100_000, 0, 'W1')])
      .when(cmd({ type: 'SettleFromCredit', data: { paymentId: 'credit_1', amount: 7_000, currency: 'USD', receivedAt: '2027-04-02T00:00:00.000Z' } }))
      .then([{ type: 'billing.payment.succeeded', data: { paymentId: 'credit_1', invoiceId: INV, amount: 7_000, currency: 'USD', method: 'credit_balance', reference: null, receivedAt: '2027-04-02T00:00:00.000Z', provider: 'manual', providerPaymentId: null, appliedAmount: 0, excessAmount: 7_000, amountRemaining: 0 } }]);
  });

  it('refunds a transfer up to what it applied, reopening the invoice; cumulative refunds cannot exceed it; a refund id counts once', () => {
    const history = [opened, paid('p1', 120_000, 100_000, 0, 'W1')];
    const refund = (refundId: string, amount: number) => cmd({ type: 'RecordManualRefund', data: { refundId, paymentId: 'p1', amount, reference: `R-${refundId}`, refundedAt: '2027-04-05T00:00:00.000Z' } });
    const refunded = (refundId: string, amount: number): ReceivableEvent => ({
      type: 'billing.payment.refunded',
      data: { paymentId: 'p1', invoiceId: INV, amount: 120_000, currency: 'USD', method: 'bank_transfer', reference: `R-${refundId}`, receivedAt: '2027-04-05T00:00:00.000Z', provider: 'manual', providerPaymentId: null, refundId, refundedAmount: amount, reopenedAmount: amount },
    });
    spec.given(history).when(refund('r1', 30_000)).then([refunded('r1', 30_000)]);
    // The 20,000 excess became credit: at most the 100,000 applied can be refunded through the payment.
    spec.given(history).when(refund('r1', 100_001)).thenThrows(ValidationError, /at most 100000/);
    spec.given([...history, refunded('r1', 30_000)]).when(refund('r2', 70_001)).thenThrows(ValidationError, /at most 70000/);
    spec.given([...history, refunded('r1', 30_000)]).when(refund('r1', 30_000)).then([]);
    // Reopened: a transfer is taken again.
    spec.given([...history, refunded('r1', 30_000)]).when(transfer('p2', 30_000, 'W2')).then([paid('p2', 30_000, 30_000, 0, 'W2')]);
    spec.given(history).when(cmd({ type: 'RecordManualRefund', data: { refundId: 'x', paymentId: 'credit_9', amount: 1, reference: 'R', refundedAt: '2027-04-05T00:00:00.000Z' } })).thenThrows(IllegalStateError, /bank transfer/);
  });

  it('records remittance advice once per reference and settles nothing', () => {
    const advice = (reference: string) => cmd({ type: 'RecordRemittanceAdvice', data: { adviceId: `ra-${reference}`, amount: 100_000, reference, sentAt: '2027-04-01T09:00:00.000Z' } });
    const received: ReceivableEvent = { type: 'billing.remittance_advice.received', data: { adviceId: 'ra-W1', invoiceId: INV, amount: 100_000, currency: 'USD', reference: 'W1', sentAt: '2027-04-01T09:00:00.000Z' } };
    spec.given([opened]).when(advice('W1')).then([received]);
    spec.given([opened, received]).when(advice('W1')).then([]);
    spec.given([opened, received]).when(transfer('p1', 100_000, 'W1')).then([paid('p1', 100_000, 100_000, 0, 'W1')]);
  });
});

describe('receivables of voided and written-off invoices', () => {
  const meta = { commandId: 'c', now: '2027-04-01T00:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
  const spec = deciderSpec(receivableDecider);
  const canceled: ReceivableEvent = { type: 'billing.receivable.canceled', data: { invoiceId: INV, currency: 'USD', amountPaid: 0 } };
  it('cancel once; a void invoice takes no transfer, and credit taken for it returns whole', () => {
    spec.given([opened]).when({ type: 'CancelReceivable', data: {}, metadata: meta }).then([canceled]);
    spec.given([opened, canceled]).when({ type: 'CancelReceivable', data: {}, metadata: meta }).then([]);
    spec.given([opened, canceled]).when({ type: 'RecordBankTransfer', data: { paymentId: 'p1', amount: 100, currency: 'USD', reference: 'W1', receivedAt: meta.now }, metadata: meta }).thenThrows(IllegalStateError, /void/);
    const settled = receivableDecider.decide({ type: 'SettleFromCredit', data: { paymentId: 'credit_1', amount: 500, currency: 'USD', receivedAt: meta.now }, metadata: meta }, [opened, canceled].reduce(receivableDecider.evolve, receivableDecider.initialState()));
    expect(settled[0]).toMatchObject({ data: { appliedAmount: 0, excessAmount: 500 } });
  });

  it('write off once what is still owed; a paid receivable has nothing to write off', () => {
    const writtenOff: ReceivableEvent = { type: 'billing.receivable.written_off', data: { invoiceId: INV, amountRemaining: 100_000 } };
    spec.given([opened]).when({ type: 'WriteOffReceivable', data: {}, metadata: meta }).then([writtenOff]);
    spec.given([opened, writtenOff]).when({ type: 'WriteOffReceivable', data: {}, metadata: meta }).then([]);
  });
});

describe('receivables credited by a credit note', () => {
  const meta = { commandId: 'c', now: '2027-04-01T00:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
  const spec = deciderSpec(receivableDecider);
  const credit = (creditNoteId: string, amount: number) => ({ type: 'CreditReceivable' as const, data: { creditNoteId, amount }, metadata: meta });
  it('ask less; what was paid beyond the new amount is excess (it returns as credit); once per credit note', () => {
    const cn = 'cc000000-0000-4000-8000-000000000001';
    const credited: ReceivableEvent = { type: 'billing.receivable.credited', data: { invoiceId: INV, creditNoteId: cn, amount: 30_000, currency: 'USD', amountDue: 70_000, excessPaid: 0, amountRemaining: 70_000 } };
    spec.given([opened]).when(credit(cn, 30_000)).then([credited]);
    spec.given([opened, credited]).when(credit(cn, 30_000)).then([]);
    const paidFull = paid('p1', 100_000, 100_000, 0, 'W1');
    spec.given([opened, paidFull]).when(credit(cn, 30_000)).then([{ ...credited, data: { ...credited.data, excessPaid: 30_000, amountRemaining: 0 } }]);
  });
});

describe('refunds never return what already went back as credit', () => {
  const spec = deciderSpec(receivableDecider);
  const cn = 'cc000000-0000-4000-8000-000000000002';
  const refund = (refundId: string, amount: number | undefined, reference = `R-${refundId}`) =>
    cmd({ type: 'RecordManualRefund', data: { refundId, paymentId: 'p1', ...(amount === undefined ? {} : { amount }), reference, refundedAt: '2027-04-05T00:00:00.000Z' } });
  const refunded = (refundId: string, amount: number, reference = `R-${refundId}`): ReceivableEvent => ({
    type: 'billing.payment.refunded',
    data: { paymentId: 'p1', invoiceId: INV, amount: 100_000, currency: 'USD', method: 'bank_transfer', reference, receivedAt: '2027-04-05T00:00:00.000Z', provider: 'manual', providerPaymentId: null, refundId, refundedAmount: amount, reopenedAmount: amount },
  });
  const paidFull = paid('p1', 100_000, 100_000, 0, 'W1');
  const credited = (amount: number, excessPaid: number, amountDue: number): ReceivableEvent => ({ type: 'billing.receivable.credited', data: { invoiceId: INV, creditNoteId: cn, amount, currency: 'USD', amountDue, excessPaid, amountRemaining: 0 } });
  /** Replays a history and checks the books of one invoice: paid + credited ≤ total, remaining never negative. */
  const state = (events: ReceivableEvent[]) => events.reduce(receivableDecider.evolve, receivableDecider.initialState());

  it('a credit note of 20,000 on a paid invoice leaves 80,000 of the transfer refundable, not 100,000', () => {
    const history = [opened, paidFull, credited(20_000, 20_000, 80_000)];
    spec.given(history).when(refund('r1', 100_000)).thenThrows(ValidationError, /at most 80000/);
    spec.given(history).when(refund('r1', undefined)).then([refunded('r1', 80_000)]);
    const after = state([...history, refunded('r1', 80_000)]);
    expect(after).toMatchObject({ amountPaid: 0, amountDue: 80_000, status: 'open' });
    // A partial refund reopens the invoice by exactly what it returned.
    expect(state([...history, refunded('r1', 30_000)])).toMatchObject({ amountPaid: 50_000, status: 'partially_paid' });
  });

  it('what came from credit returns to credit first; then the newest transfer', () => {
    const fromCredit: ReceivableEvent = { type: 'billing.payment.succeeded', data: { paymentId: 'credit_1', invoiceId: INV, amount: 30_000, currency: 'USD', method: 'credit_balance', reference: null, receivedAt: '2027-04-01T10:00:00.000Z', provider: 'manual', providerPaymentId: null, appliedAmount: 30_000, excessAmount: 0, amountRemaining: 70_000 } };
    const transfer70 = paid('p1', 70_000, 70_000, 0, 'W1');
    // Credited 40,000: 30,000 was credit, 10,000 of the transfer goes back: 60,000 of it refundable.
    const history = [opened, fromCredit, transfer70, credited(40_000, 40_000, 60_000)];
    spec.given(history).when(refund('r1', 60_001)).thenThrows(ValidationError, /at most 60000/);
    spec.given(history).when(refund('r1', 60_000)).then([{ ...refunded('r1', 60_000), data: { ...refunded('r1', 60_000).data, amount: 70_000 } } as ReceivableEvent]);
  });

  it('a void invoice returned all that was paid as credit: nothing of its transfer is refundable', () => {
    const canceled: ReceivableEvent = { type: 'billing.receivable.canceled', data: { invoiceId: INV, currency: 'USD', amountPaid: 100_000 } };
    spec.given([opened, paidFull, canceled]).when(refund('r1', 1)).thenThrows(IllegalStateError, /moved to the credit balance/);
    spec.given([opened, paid('p1', 100_000, 100_000, 0, 'W1'), refunded('r1', 40_000), { ...canceled, data: { ...canceled.data, amountPaid: 60_000 } }]).when(refund('r2', undefined)).thenThrows(IllegalStateError, /refunded already or moved/);
  });

  it('the same refund reference on a payment is refused, as payments are', () => {
    const history = [opened, paidFull, refunded('r1', 10_000, 'RET-1')];
    spec.given(history).when(refund('r2', 10_000, 'RET-1')).thenThrows(IllegalStateError, /RET-1 is already recorded/);
    spec.given(history).when(refund('r2', 10_000, 'RET-2')).then([refunded('r2', 10_000, 'RET-2')]);
  });
});
