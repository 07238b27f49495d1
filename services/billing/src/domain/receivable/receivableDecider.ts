import type { BillingEvent, CollectionMethod } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** What is owed on one invoice and what has been received against it (manual collection). */
export const receivableStream = (invoiceId: string) => `receivable-${invoiceId}`;

export type ReceivableEvent = Extract<BillingEvent, { type: 'billing.receivable.opened' | 'billing.payment.succeeded' | 'billing.payment.refunded' | 'billing.remittance_advice.received' | 'billing.receivable.canceled' | 'billing.receivable.written_off' | 'billing.receivable.credited' }>;

export type OpenReceivable = Command<
  'OpenReceivable',
  { invoiceId: string; subscriptionId: string | null; amountDue: number; currency: string; dueAt: string | null; collectionMethod: CollectionMethod }
>;
export type RecordBankTransfer = Command<'RecordBankTransfer', { paymentId: string; amount: number; currency: string; reference: string; receivedAt: string }>;
/** Settles (part of) the invoice from the organization's credit balance, already taken from it. */
export type SettleFromCredit = Command<'SettleFromCredit', { paymentId: string; amount: number; currency: string; receivedAt: string }>;
/**
 * The operator returned (part of) a bank transfer: the refunded amount is owed on the invoice again. Without an
 * amount, all that is refundable.
 */
export type RecordManualRefund = Command<'RecordManualRefund', { refundId: string; paymentId: string; amount?: number; reference: string; refundedAt: string }>;
/** The customer says it sent a transfer; recorded for the operator, settles nothing. */
export type RecordRemittanceAdvice = Command<'RecordRemittanceAdvice', { adviceId: string; amount: number; reference: string; sentAt: string }>;
/** Its invoice was voided: nothing is owed; what was paid returns as credit. */
export type CancelReceivable = Command<'CancelReceivable', Record<string, never>>;
/** Its invoice was marked uncollectible: no more dunning. */
export type WriteOffReceivable = Command<'WriteOffReceivable', Record<string, never>>;
/** A credit note lowers what its invoice asks. */
export type CreditReceivable = Command<'CreditReceivable', { creditNoteId: string; amount: number }>;
export type ReceivableCommand = OpenReceivable | RecordBankTransfer | SettleFromCredit | RecordManualRefund | RecordRemittanceAdvice | CancelReceivable | WriteOffReceivable | CreditReceivable;

/**
 * A bank transfer applied to the invoice: what of it is still applied (less what a credit note or a void moved to
 * the credit balance), and how much of that has been refunded. Only `applied − refunded` can be returned through
 * the payment: the rest is the customer's already, as credit.
 */
interface TransferApplied {
  paymentId: string;
  applied: number;
  refunded: number;
  refundReferences: string[];
  payment: Extract<ReceivableEvent, { type: 'billing.payment.succeeded' }>['data'];
}

export type ReceivableState =
  | { status: 'none' }
  | {
      status: 'open' | 'partially_paid' | 'paid';
      invoiceId: string;
      amountDue: number;
      amountPaid: number;
      currency: string;
      references: string[];
      transfers: TransferApplied[];
      adviceReferences: string[];
      refundIds: string[];
      /** Of amountPaid, what came from the organization's credit balance (returns there first when a credit note or void frees it). */
      fromCredit: number;
      /** Voided (nothing owed) or written off (no dunning); null while it is collected as usual. */
      closed: 'void' | 'uncollectible' | null;
      creditNotes: string[];
    };

function paidStatus(amountPaid: number, amountDue: number): 'open' | 'partially_paid' | 'paid' {
  return amountPaid >= amountDue ? 'paid' : amountPaid > 0 ? 'partially_paid' : 'open';
}

type Collected = Exclude<ReceivableState, { status: 'none' }>;

/**
 * `amount` of what was paid moved to the credit balance: taken from what came from credit first (it returns where
 * it came from), then from the transfers still applied, newest first, so that what remains refundable is exactly
 * the money still applied to this invoice.
 */
function movedToCredit(state: Collected, amount: number): Pick<Collected, 'fromCredit' | 'transfers'> {
  const fromCredit = Math.min(state.fromCredit, amount);
  let left = amount - fromCredit;
  const transfers = [...state.transfers];
  for (let i = transfers.length - 1; i >= 0 && left > 0; i--) {
    const t = transfers[i]!;
    const moved = Math.min(t.applied - t.refunded, left);
    transfers[i] = { ...t, applied: t.applied - moved };
    left -= moved;
  }
  return { fromCredit: state.fromCredit - fromCredit, transfers };
}

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
        if (state.closed === 'void') throw new IllegalStateError('the invoice is void: nothing is owed on it');
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
        // Credit was taken for this invoice already: even if a transfer paid it meanwhile, the amount is recorded
        // (as excess, which returns to credit) rather than dropped.
        if (state.status === 'none') throw new NotFoundError('invoice');
        const { paymentId, amount, currency, receivedAt } = command.data;
        // A void invoice takes none of it: all of it is excess, which returns to credit.
        const appliedAmount = state.closed === 'void' ? 0 : Math.min(amount, state.amountDue - state.amountPaid);
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
      case 'RecordManualRefund': {
        if (state.status === 'none') throw new NotFoundError('invoice');
        const { refundId, paymentId, reference, refundedAt } = command.data;
        if (state.refundIds.includes(refundId)) return [];
        const transfer = state.transfers.find((t) => t.paymentId === paymentId);
        if (!transfer) throw new IllegalStateError('only a bank transfer applied to this invoice can be refunded here; credit is not money paid in');
        if (transfer.refundReferences.includes(reference)) throw new IllegalStateError(`a refund with reference ${reference} is already recorded for this payment`);
        const refundable = transfer.applied - transfer.refunded;
        // The excess of an over-payment, and what credit notes or a void freed, became credit: the customer has it
        // already and it is not refunded through the payment as well (see billing-integration.md, "Refunds").
        if (refundable === 0) throw new IllegalStateError('nothing of this payment can be refunded: it was refunded already or moved to the credit balance');
        const amount = command.data.amount ?? refundable;
        if (amount > refundable) throw new ValidationError(`at most ${refundable} ${state.currency} minor units of this payment can be refunded (what it still applies to the invoice, less earlier refunds; what became credit is not)`);
        const { appliedAmount: _a, excessAmount: _e, amountRemaining: _r, ...payment } = transfer.payment;
        return [{ type: 'billing.payment.refunded', data: { ...payment, reference, receivedAt: refundedAt, refundId, refundedAmount: amount, reopenedAmount: amount } }];
      }
      case 'RecordRemittanceAdvice': {
        if (state.status === 'none') throw new NotFoundError('invoice');
        const { adviceId, amount, reference, sentAt } = command.data;
        if (state.adviceReferences.includes(reference)) return [];
        return [{ type: 'billing.remittance_advice.received', data: { adviceId, invoiceId: state.invoiceId, amount, currency: state.currency, reference, sentAt } }];
      }
      case 'CancelReceivable':
        if (state.status === 'none') throw new NotFoundError('invoice');
        return state.closed === 'void' ? [] : [{ type: 'billing.receivable.canceled', data: { invoiceId: state.invoiceId, currency: state.currency, amountPaid: state.amountPaid } }];
      case 'CreditReceivable': {
        if (state.status === 'none') throw new NotFoundError('invoice');
        const { creditNoteId, amount } = command.data;
        if (state.creditNotes.includes(creditNoteId)) return [];
        const amountDue = Math.max(0, state.amountDue - amount);
        // Paid beyond the new amount: that part of the payment returns as credit.
        const excessPaid = Math.max(0, state.amountPaid - amountDue);
        const amountRemaining = amountDue - (state.amountPaid - excessPaid);
        return [{ type: 'billing.receivable.credited', data: { invoiceId: state.invoiceId, creditNoteId, amount, currency: state.currency, amountDue, excessPaid, amountRemaining } }];
      }
      case 'WriteOffReceivable':
        if (state.status === 'none') throw new NotFoundError('invoice');
        return state.closed !== null || state.status === 'paid' ? [] : [{ type: 'billing.receivable.written_off', data: { invoiceId: state.invoiceId, amountRemaining: state.amountDue - state.amountPaid } }];
      default: {
        const exhaustive: never = command;
        throw new Error(`unknown command ${(exhaustive as Command).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'billing.receivable.opened':
        return { status: event.data.amountDue === 0 ? 'paid' : 'open', invoiceId: event.data.invoiceId, amountDue: event.data.amountDue, amountPaid: 0, currency: event.data.currency, references: [], transfers: [], adviceReferences: [], refundIds: [], fromCredit: 0, closed: null, creditNotes: [] };
      case 'billing.payment.succeeded': {
        if (state.status === 'none') return state;
        const d = event.data;
        const amountPaid = state.amountPaid + d.appliedAmount;
        const transfers = d.method === 'bank_transfer' ? [...state.transfers, { paymentId: d.paymentId, applied: d.appliedAmount, refunded: 0, refundReferences: [], payment: d }] : state.transfers;
        const fromCredit = state.fromCredit + (d.method === 'credit_balance' ? d.appliedAmount : 0);
        return { ...state, amountPaid, fromCredit, status: paidStatus(amountPaid, state.amountDue), references: d.reference ? [...state.references, d.reference] : state.references, transfers };
      }
      case 'billing.payment.refunded': {
        if (state.status === 'none') return state;
        const d = event.data;
        const amountPaid = state.amountPaid - d.reopenedAmount;
        const transfers = state.transfers.map((t) => (t.paymentId === d.paymentId ? { ...t, refunded: t.refunded + d.refundedAmount, refundReferences: d.reference ? [...t.refundReferences, d.reference] : t.refundReferences } : t));
        return { ...state, amountPaid, status: paidStatus(amountPaid, state.amountDue), transfers, refundIds: [...state.refundIds, d.refundId] };
      }
      case 'billing.remittance_advice.received':
        return state.status === 'none' ? state : { ...state, adviceReferences: [...state.adviceReferences, event.data.reference] };
      case 'billing.receivable.canceled':
        // All that was paid returned as credit: nothing of a transfer is refundable through it any more.
        return state.status === 'none' ? state : { ...state, closed: 'void', ...movedToCredit(state, state.amountPaid) };
      case 'billing.receivable.written_off':
        return state.status === 'none' ? state : { ...state, closed: 'uncollectible' };
      case 'billing.receivable.credited': {
        if (state.status === 'none') return state;
        const amountPaid = state.amountPaid - event.data.excessPaid;
        return { ...state, ...movedToCredit(state, event.data.excessPaid), amountDue: event.data.amountDue, amountPaid, status: paidStatus(amountPaid, event.data.amountDue), creditNotes: [...state.creditNotes, event.data.creditNoteId] };
      }
      default: {
        const exhaustive: never = event;
        return exhaustive;
      }
    }
  },
};
