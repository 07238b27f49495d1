import type { BillingEvent, PaymentData } from '@curbmap/contracts';
import { IllegalStateError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** One Stripe payment (a PaymentIntent, or an invoice paid without one), fed by webhooks in any order. */
export const stripePaymentStream = (paymentId: string) => `payment-${paymentId}`;

export type StripePaymentEvent = Extract<
  BillingEvent,
  { type: 'billing.payment.succeeded' | 'billing.payment.invoice_linked' | 'billing.payment.failed' | 'billing.payment.requires_action' | 'billing.payment.refunded' | 'billing.refund.requested' | 'billing.refund.submitted' | 'billing.refund.failed' }
>;

type Observed = Omit<PaymentData, 'method' | 'provider' | 'reference'> & { reference: string | null; created: number };
export type ApplyStripePayment = Command<'ApplyStripePayment', Observed & ({ outcome: 'succeeded' } | { outcome: 'failed'; failureMessage: string } | { outcome: 'requires_action'; nextAction: string })>;
export type ApplyStripeRefund = Command<'ApplyStripeRefund', Observed & { refundId: string; amountRefunded: number }>;
/** The operator asks for a refund: an intent the provider outbox carries out (its event id is Stripe's key). */
export type RequestRefund = Command<'RequestRefund', { requestId: string; amount: number }>;
export type RecordRefundOutcome = Command<'RecordRefundOutcome', { requestId: string } & ({ outcome: 'submitted'; refundId: string; status: string } | { outcome: 'failed'; code: string; message: string })>;
export type StripePaymentCommand = ApplyStripePayment | ApplyStripeRefund | RequestRefund | RecordRefundOutcome;

export type StripePaymentState =
  | { status: 'none' }
  | {
      status: 'requires_action' | 'failed' | 'succeeded';
      /** The PaymentIntent (or the invoice paid without one). */
      paymentId: string;
      /** The invoice a failed or pending attempt named (Stripe retries an invoice on the same PaymentIntent). */
      invoiceId: string | null;
      /** The invoice its success counts on, once known (a PaymentIntent's success may come before its invoice's). */
      paidInvoiceId: string | null;
      created: number;
      refunded: number;
      amount: number;
      currency: string;
      /** The reference its success was recorded with (the receipt sent when it is linked to its invoice names it). */
      reference: string | null;
      /** Refunds asked of Stripe and not yet answered, by request id, with their amounts. */
      refundsInFlight: Record<string, number>;
    };

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
    if (command.type === 'RequestRefund') {
      if (state.status !== 'succeeded') throw new IllegalStateError('only a succeeded card payment can be refunded');
      const { requestId, amount } = command.data;
      if (requestId in state.refundsInFlight) return [];
      const inFlight = Object.values(state.refundsInFlight).reduce((a, b) => a + b, 0);
      const refundable = state.amount - state.refunded - inFlight;
      if (amount > refundable) throw new ValidationError(`at most ${refundable} ${state.currency} minor units can be refunded`);
      return [{ type: 'billing.refund.requested', data: { paymentId: state.paymentId, requestId, amount, currency: state.currency } }];
    }
    if (command.type === 'RecordRefundOutcome') {
      if (state.status === 'none' || !(command.data.requestId in state.refundsInFlight)) return [];
      const c = command.data;
      const paymentId = state.paymentId;
      return c.outcome === 'submitted'
        ? [{ type: 'billing.refund.submitted', data: { paymentId, requestId: c.requestId, refundId: c.refundId, status: c.status, amount: state.refundsInFlight[c.requestId]! } }]
        : [{ type: 'billing.refund.failed', data: { paymentId, requestId: c.requestId, code: c.code, message: c.message } }];
    }
    const d = command.data;
    if (command.type === 'ApplyStripeRefund') {
      const out: StripePaymentEvent[] = [];
      // A refund proves the charge succeeded, even if that webhook has not arrived yet.
      if (state.status !== 'succeeded') out.push({ type: 'billing.payment.succeeded', data: { ...payment({ ...d, invoiceId: d.invoiceId ?? (state.status === 'none' ? null : state.invoiceId) }), appliedAmount: d.amount, excessAmount: 0, amountRemaining: 0 } });
      const already = state.status === 'none' ? 0 : state.refunded;
      const added = command.data.amountRefunded - already;
      if (added > 0) out.push({ type: 'billing.payment.refunded', data: { ...payment(d), refundId: command.data.refundId, refundedAmount: added, reopenedAmount: 0 } });
      return out;
    }
    const c = command.data;
    if (state.status === 'succeeded') {
      // Already recorded, without its invoice: a later event that names the invoice links it, once.
      if (c.outcome === 'succeeded' && d.invoiceId && state.paidInvoiceId === null) {
        return [{ type: 'billing.payment.invoice_linked', data: { paymentId: state.paymentId, invoiceId: d.invoiceId, amount: state.amount, currency: state.currency, appliedAmount: state.amount, receivedAt: d.receivedAt, reference: state.reference } }];
      }
      return [];
    }
    switch (c.outcome) {
      case 'succeeded':
        // A retry's success names no invoice; the failed attempt before it did: the same invoice.
        return [{ type: 'billing.payment.succeeded', data: { ...payment({ ...d, invoiceId: d.invoiceId ?? (state.status === 'none' ? null : state.invoiceId) }), appliedAmount: d.amount, excessAmount: 0, amountRemaining: 0 } }];
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
    if (event.type === 'billing.payment.invoice_linked') return state.status === 'none' ? state : { ...state, invoiceId: event.data.invoiceId, paidInvoiceId: event.data.invoiceId };
    if (event.type === 'billing.refund.requested' || event.type === 'billing.refund.submitted' || event.type === 'billing.refund.failed') {
      if (state.status === 'none') return state;
      const refundsInFlight = { ...state.refundsInFlight };
      if (event.type === 'billing.refund.requested') refundsInFlight[event.data.requestId] = event.data.amount;
      else delete refundsInFlight[event.data.requestId];
      return { ...state, refundsInFlight };
    }
    const refunded = state.status === 'none' ? 0 : state.refunded;
    const created = Math.floor(Date.parse(event.data.receivedAt) / 1000);
    const invoiceId = event.data.invoiceId ?? (state.status === 'none' ? null : state.invoiceId);
    const paidInvoiceId = event.type === 'billing.payment.succeeded' ? event.data.invoiceId : state.status === 'none' ? null : state.paidInvoiceId;
    const reference = state.status === 'succeeded' ? state.reference : event.data.reference;
    const kept = { paymentId: event.data.paymentId, invoiceId, paidInvoiceId, refunded, amount: event.data.amount, currency: event.data.currency, reference, refundsInFlight: state.status === 'none' ? {} : state.refundsInFlight };
    switch (event.type) {
      case 'billing.payment.succeeded':
        return { status: 'succeeded', created, ...kept };
      case 'billing.payment.failed':
        return { status: 'failed', created, ...kept };
      case 'billing.payment.requires_action':
        return { status: 'requires_action', created, ...kept };
      case 'billing.payment.refunded':
        return state.status === 'none' ? state : { ...state, refunded: refunded + event.data.refundedAmount };
      default: {
        const exhaustive: never = event;
        return exhaustive;
      }
    }
  },
};
