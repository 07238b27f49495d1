import type { BillingEvent, CollectionMethod } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** What is owed on one invoice and what has been received against it (manual collection). */
export const receivableStream = (invoiceId: string) => `receivable-${invoiceId}`;

export type ReceivableEvent = Extract<BillingEvent, { type: 'billing.receivable.opened' | 'billing.payment.succeeded' }>;

export type OpenReceivable = Command<
  'OpenReceivable',
  { invoiceId: string; subscriptionId: string | null; amountDue: number; currency: string; dueAt: string | null; collectionMethod: CollectionMethod }
>;
export type RecordBankTransfer = Command<'RecordBankTransfer', { paymentId: string; amount: number; currency: string; reference: string; receivedAt: string }>;
/** Settles (part of) the invoice from the organization's credit balance, already taken from it. */
export type SettleFromCredit = Command<'SettleFromCredit', { paymentId: string; amount: number; currency: string; receivedAt: string }>;
export type ReceivableCommand = OpenReceivable | RecordBankTransfer | SettleFromCredit;

export type ReceivableState =
  | { status: 'none' }
  | { status: 'open' | 'partially_paid' | 'paid'; invoiceId: string; amountDue: number; amountPaid: number; currency: string; references: string[] };

export const receivableDecider: Decider<ReceivableCommand, ReceivableEvent, ReceivableState> = {
  initialState: () => ({ status: 'none' }),

  decide(command, state) {
    switch (command.type) {
      case 'OpenReceivable':
        return state.status === 'none' ? [{ type: 'billing.receivable.opened', data: { ...command.data } }] : [];
      case 'RecordBankTransfer': {
        if (state.status === 'none') throw new NotFoundError('invoice');
        const { paymentId, amount, currency, reference, receivedAt } = command.data;
        if (currency !== state.currency) throw new ValidationError(`the invoice is in ${state.currency}; a ${currency} payment cannot be applied to it`);
        if (!Number.isInteger(amount) || amount <= 0) throw new ValidationError('amount must be a positive integer in minor units');
        if (state.references.includes(reference)) throw new IllegalStateError(`a payment with reference ${reference} is already recorded on this invoice`);
        if (state.status === 'paid') throw new IllegalStateError('the invoice is already paid in full; nothing is owed');
        const remaining = state.amountDue - state.amountPaid;
        // Under-payment leaves the rest open; over-payment settles the invoice and the excess is recorded as such.
        const appliedAmount = Math.min(amount, remaining);
        return [
          {
            type: 'billing.payment.succeeded',
            data: {
              paymentId,
              invoiceId: state.invoiceId,
              amount,
              currency,
              method: 'bank_transfer',
              reference,
              receivedAt,
              provider: 'manual',
              providerPaymentId: null,
              appliedAmount,
              excessAmount: amount - appliedAmount,
              amountRemaining: remaining - appliedAmount,
            },
          },
        ];
      }
      case 'SettleFromCredit': {
        if (state.status !== 'open' && state.status !== 'partially_paid') return [];
        const { paymentId, amount, currency, receivedAt } = command.data;
        const appliedAmount = Math.min(amount, state.amountDue - state.amountPaid);
        return [
          {
            type: 'billing.payment.succeeded',
            data: {
              paymentId, invoiceId: state.invoiceId, amount, currency, method: 'credit_balance', reference: null, receivedAt, provider: 'manual', providerPaymentId: null,
              appliedAmount, excessAmount: amount - appliedAmount, amountRemaining: state.amountDue - state.amountPaid - appliedAmount,
            },
          },
        ];
      }
      default: {
        const exhaustive: never = command;
        throw new Error(`unknown command ${(exhaustive as Command).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'billing.receivable.opened':
        return { status: event.data.amountDue === 0 ? 'paid' : 'open', invoiceId: event.data.invoiceId, amountDue: event.data.amountDue, amountPaid: 0, currency: event.data.currency, references: [] };
      case 'billing.payment.succeeded': {
        if (state.status === 'none') return state;
        const amountPaid = state.amountPaid + event.data.appliedAmount;
        return { ...state, amountPaid, status: amountPaid >= state.amountDue ? 'paid' : 'partially_paid', references: event.data.reference ? [...state.references, event.data.reference] : state.references };
      }
      default: {
        const exhaustive: never = event;
        return exhaustive;
      }
    }
  },
};
