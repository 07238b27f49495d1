import type { BillingEvent, PaymentData } from '@curbmap/contracts';
import type { Command, Decider } from '@curbmap/eventsourcing';

/** One Stripe payment (a PaymentIntent, or an invoice paid without one), fed by webhooks in any order. */
export const stripePaymentStream = (paymentId: string) => `payment-${paymentId}`;

export type StripePaymentEvent = Extract<BillingEvent, { type: 'billing.payment.succeeded' | 'billing.payment.failed' | 'billing.payment.requires_action' | 'billing.payment.refunded' }>;

type Observed = Omit<PaymentData, 'method' | 'provider' | 'reference'> & { reference: string | null; created: number };
export type ApplyStripePayment = Command<'ApplyStripePayment', Observed & ({ outcome: 'succeeded' } | { outcome: 'failed'; failureMessage: string } | { outcome: 'requires_action'; nextAction: string })>;
export type ApplyStripeRefund = Command<'ApplyStripeRefund', Observed & { refundId: string; amountRefunded: number }>;
export type StripePaymentCommand = ApplyStripePayment | ApplyStripeRefund;

export type StripePaymentState =
  | { status: 'none' }
  | { status: 'requires_action' | 'failed' | 'succeeded'; created: number; refunded: number };

function payment(d: Observed): PaymentData {
  return { paymentId: d.paymentId, invoiceId: d.invoiceId, amount: d.amount, currency: d.currency, method: 'card', reference: d.reference, receivedAt: d.receivedAt, provider: 'stripe', providerPaymentId: d.providerPaymentId };
}

/**
 * Success is final: a late `payment_failed` after `succeeded` is stale and ignored, and `invoice.paid` and
 * `payment_intent.succeeded` for the same payment record it once. Refunds are cumulative amounts, so a
 * duplicate or reordered `charge.refunded` adds only what was not yet recorded.
 */
export const stripePaymentDecider: Decider<StripePaymentCommand, StripePaymentEvent, StripePaymentState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    const d = command.data;
    if (command.type === 'ApplyStripeRefund') {
      const out: StripePaymentEvent[] = [];
      // A refund proves the charge succeeded, even if that webhook has not arrived yet.
      if (state.status !== 'succeeded') out.push({ type: 'billing.payment.succeeded', data: { ...payment(d), appliedAmount: d.amount, excessAmount: 0, amountRemaining: 0 } });
      const already = state.status === 'none' ? 0 : state.refunded;
      const added = command.data.amountRefunded - already;
      if (added > 0) out.push({ type: 'billing.payment.refunded', data: { ...payment(d), refundId: command.data.refundId, refundedAmount: added, reopenedAmount: 0 } });
      return out;
    }
    if (state.status === 'succeeded') return [];
    const c = command.data;
    switch (c.outcome) {
      case 'succeeded':
        return [{ type: 'billing.payment.succeeded', data: { ...payment(d), appliedAmount: d.amount, excessAmount: 0, amountRemaining: 0 } }];
      case 'failed':
        if (state.status !== 'none' && d.created < state.created) return [];
        return [{ type: 'billing.payment.failed', data: { ...payment(d), failureMessage: c.failureMessage } }];
      case 'requires_action':
        if (state.status !== 'none' && d.created < state.created) return [];
        return [{ type: 'billing.payment.requires_action', data: { ...payment(d), nextAction: c.nextAction } }];
      default: {
        const exhaustive: never = c;
        return exhaustive;
      }
    }
  },
  evolve(state, event) {
    const refunded = state.status === 'none' ? 0 : state.refunded;
    const created = Math.floor(Date.parse(event.data.receivedAt) / 1000);
    switch (event.type) {
      case 'billing.payment.succeeded':
        return { status: 'succeeded', created, refunded };
      case 'billing.payment.failed':
        return { status: 'failed', created, refunded };
      case 'billing.payment.requires_action':
        return { status: 'requires_action', created, refunded };
      case 'billing.payment.refunded':
        return state.status === 'none' ? state : { ...state, refunded: refunded + event.data.refundedAmount };
      default: {
        const exhaustive: never = event;
        return exhaustive;
      }
    }
  },
};
