import type { BillingEvent } from '@curbmap/contracts';
import type { Command, Decider } from '@curbmap/eventsourcing';

/** An organization's credit balance per currency: over-payments in, invoices settled out. */
export const creditStream = (organizationId: string) => `credit-${organizationId}`;

export type CreditEvent = Extract<BillingEvent, { type: 'billing.credit.granted' | 'billing.credit.applied' }>;
export type GrantCredit = Command<'GrantCredit', Extract<CreditEvent, { type: 'billing.credit.granted' }>['data']>;
/** Spend up to `upTo` on an invoice; nothing happens without a balance in that currency. */
export type ApplyCredit = Command<'ApplyCredit', { invoiceId: string; currency: string; upTo: number }>;
export type CreditCommand = GrantCredit | ApplyCredit;
export type CreditState = { balances: Record<string, number> };

export const creditDecider: Decider<CreditCommand, CreditEvent, CreditState> = {
  initialState: () => ({ balances: {} }),
  decide(command, state) {
    switch (command.type) {
      case 'GrantCredit':
        return command.data.amount > 0 ? [{ type: 'billing.credit.granted', data: { ...command.data } }] : [];
      case 'ApplyCredit': {
        // Idempotent through the command id (one per source event and invoice); an amount taken beyond what the
        // invoice still owes comes back as credit when it is settled, so nothing is lost either way.
        const { invoiceId, currency, upTo } = command.data;
        const amount = Math.min(state.balances[currency] ?? 0, upTo);
        return amount > 0 ? [{ type: 'billing.credit.applied', data: { amount, currency, invoiceId } }] : [];
      }
      default: {
        const exhaustive: never = command;
        throw new Error(`unknown command ${(exhaustive as Command).type}`);
      }
    }
  },
  evolve(state, event) {
    const { currency, amount } = event.data;
    const balance = state.balances[currency] ?? 0;
    switch (event.type) {
      case 'billing.credit.granted':
        return { ...state, balances: { ...state.balances, [currency]: balance + amount } };
      case 'billing.credit.applied':
        return { balances: { ...state.balances, [currency]: balance - amount } };
      default: {
        const exhaustive: never = event;
        return exhaustive;
      }
    }
  },
};
