import { describe, it } from 'vitest';
import { IllegalStateError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { stripePaymentDecider, type StripePaymentCommand, type StripePaymentEvent } from './stripePaymentDecider.ts';

const metadata: CommandMetadata = { commandId: 'c', now: '2027-04-01T10:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const REQ = '0f0e0d0c-0b0a-4908-8706-050403020100';
const seen = (created: number) => ({ paymentId: 'pi_1', invoiceId: null, amount: 50_000, currency: 'USD', receivedAt: new Date(created * 1000).toISOString(), providerPaymentId: 'pi_1', reference: 'pi_1', created });
const apply = (outcome: 'succeeded' | 'failed' | 'requires_action', created: number) =>
  ({ type: 'ApplyStripePayment', data: { ...seen(created), outcome, failureMessage: 'declined', nextAction: 'use_stripe_sdk' }, metadata }) as StripePaymentCommand;
const refundSeen = (amountRefunded: number, created: number) => ({ type: 'ApplyStripeRefund', data: { ...seen(created), refundId: 're_1', amountRefunded }, metadata }) as StripePaymentCommand;
const base = (created: number) => ({ paymentId: 'pi_1', invoiceId: null, amount: 50_000, currency: 'USD', method: 'card' as const, reference: 'pi_1', receivedAt: new Date(created * 1000).toISOString(), provider: 'stripe' as const, providerPaymentId: 'pi_1' });
const succeeded = (created: number): StripePaymentEvent => ({ type: 'billing.payment.succeeded', data: { ...base(created), appliedAmount: 50_000, excessAmount: 0, amountRemaining: 0 } });
const failed = (created: number): StripePaymentEvent => ({ type: 'billing.payment.failed', data: { ...base(created), failureMessage: 'declined' } });
const refunded = (amount: number, created: number): StripePaymentEvent => ({ type: 'billing.payment.refunded', data: { ...base(created), refundId: 're_1', refundedAmount: amount, reopenedAmount: 0 } });
const spec = deciderSpec(stripePaymentDecider);

describe('Stripe payment decider', () => {
  it('records success once, whichever event says it and however often', () => {
    spec.given([]).when(apply('succeeded', 100)).then([succeeded(100)]);
    spec.given([succeeded(100)]).when(apply('succeeded', 101)).then([]);
  });

  it('treats success as final: a later failure is stale; an older failure never overwrites a newer one', () => {
    spec.given([succeeded(100)]).when(apply('failed', 200)).then([]);
    spec.given([failed(200)]).when(apply('failed', 150)).then([]);
    spec.given([failed(100)]).when(apply('succeeded', 90)).then([succeeded(90)]);
  });

  it('records a refund that arrives before its success as both, and adds cumulative refunds once', () => {
    spec.given([]).when(refundSeen(20_000, 300)).then([succeeded(300), refunded(20_000, 300)]);
    spec.given([succeeded(100), refunded(20_000, 300)]).when(refundSeen(20_000, 300)).then([]);
    spec.given([succeeded(100), refunded(20_000, 300)]).when(refundSeen(35_000, 400)).then([refunded(15_000, 400)]);
  });

  it('asks for a refund within what is left, counting refunds already on their way', () => {
    const request = (requestId: string, amount: number) => ({ type: 'RequestRefund', data: { requestId, amount }, metadata }) as StripePaymentCommand;
    const requested: StripePaymentEvent = { type: 'billing.refund.requested', data: { paymentId: 'pi_1', requestId: REQ, amount: 30_000, currency: 'USD' } };
    spec.given([succeeded(100)]).when(request(REQ, 30_000)).then([requested]);
    spec.given([succeeded(100), requested]).when(request(REQ, 30_000)).then([]);
    spec.given([succeeded(100), requested]).when(request('11111111-1111-4111-8111-111111111111', 20_001)).thenThrows(ValidationError, /at most 20000/);
    spec.given([failed(100)]).when(request(REQ, 1)).thenThrows(IllegalStateError, /succeeded/);
    spec
      .given([succeeded(100), requested])
      .when({ type: 'RecordRefundOutcome', data: { requestId: REQ, outcome: 'submitted', refundId: 're_9', status: 'pending' }, metadata })
      .then([{ type: 'billing.refund.submitted', data: { paymentId: 'pi_1', requestId: REQ, refundId: 're_9', status: 'pending', amount: 30_000 } }]);
  });

  it('links a payment recorded without its invoice to the invoice a later event names, once; a retry after a failed attempt counts on that attempt\'s invoice', () => {
    const INV = '9a000000-0000-4000-8000-000000000001';
    // The invoice's own webhook names it by the invoice's id; the receipt keeps the payment's reference.
    const forInvoice = (outcome: 'succeeded' | 'failed', created: number) => ({ ...apply(outcome, created), data: { ...apply(outcome, created).data, invoiceId: INV, reference: 'in_1' } }) as StripePaymentCommand;
    const linked: StripePaymentEvent = { type: 'billing.payment.invoice_linked', data: { paymentId: 'pi_1', invoiceId: INV, amount: 50_000, currency: 'USD', appliedAmount: 50_000, receivedAt: new Date(102 * 1000).toISOString(), reference: 'pi_1' } };
    spec.given([succeeded(100)]).when(forInvoice('succeeded', 102)).then([linked]);
    spec.given([succeeded(100), linked]).when(forInvoice('succeeded', 103)).then([]);
    // Succeeded with its invoice from the start: nothing to link.
    const paidWithInvoice: StripePaymentEvent = { type: 'billing.payment.succeeded', data: { ...base(100), invoiceId: INV, appliedAmount: 50_000, excessAmount: 0, amountRemaining: 0 } };
    spec.given([paidWithInvoice]).when(forInvoice('succeeded', 102)).then([]);
    // invoice.payment_failed named the invoice; the retry's payment_intent.succeeded does not: it pays that invoice.
    const failedOnInvoice: StripePaymentEvent = { type: 'billing.payment.failed', data: { ...base(90), invoiceId: INV, failureMessage: 'declined' } };
    spec.given([failedOnInvoice]).when(apply('succeeded', 100)).then([paidWithInvoice]);
    spec.given([failedOnInvoice, paidWithInvoice]).when(forInvoice('succeeded', 102)).then([]);
  });
});
