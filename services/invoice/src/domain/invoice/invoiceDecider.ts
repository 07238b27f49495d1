import type { InvoiceEvent, InvoiceFinalized } from '@curbmap/contracts';
import type { Command, Decider } from '@curbmap/eventsourcing';

export const invoiceStream = (invoiceId: string) => `invoice-${invoiceId}`;

export type IssueInvoice = Command<'IssueInvoice', Omit<InvoiceFinalized['data'], 'number' | 'total' | 'amountDue' | 'issuedAt' | 'dueAt'> & { daysUntilDue: number | null }>;
export type InvoiceCommand = IssueInvoice;
export type InvoiceState = { status: 'none' } | { status: 'open'; invoiceId: string };

/** Human-friendly and stable: the year and the first eight hex digits of the id. */
export function invoiceNumber(invoiceId: string, issuedAt: string): string {
  return `CM-${issuedAt.slice(0, 4)}-${invoiceId.replace(/-/g, '').slice(0, 8).toUpperCase()}`;
}

export const invoiceDecider: Decider<InvoiceCommand, InvoiceEvent, InvoiceState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    if (state.status !== 'none') return []; // issued once per source event
    const { daysUntilDue, ...d } = command.data;
    const issuedAt = command.metadata.now;
    const total = d.lines.reduce((sum, l) => sum + l.amount, 0);
    const dueAt = d.collectionMethod === 'send_invoice' ? new Date(Date.parse(issuedAt) + (daysUntilDue ?? 30) * 86_400_000).toISOString() : null;
    return [{ type: 'invoice.invoice.finalized', data: { ...d, number: invoiceNumber(d.invoiceId, issuedAt), total, amountDue: Math.max(total, 0), issuedAt, dueAt } }];
  },
  evolve(_state, event) {
    return { status: 'open', invoiceId: event.data.invoiceId };
  },
};
