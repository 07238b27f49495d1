import type { InvoiceEvent, InvoiceFinalized, TaxSettings } from '@curbmap/contracts';
import { invoiceTotals } from '../tax/invoiceTax.ts';
import type { Command, Decider } from '@curbmap/eventsourcing';

export const invoiceStream = (invoiceId: string) => `invoice-${invoiceId}`;

/** `number` is assigned before (gap-free per organization and year: application/invoiceNumbers.ts). */
export type IssueInvoice = Command<'IssueInvoice', Omit<InvoiceFinalized['data'], 'subtotal' | 'tax' | 'total' | 'amountDue' | 'issuedAt' | 'dueAt'> & { daysUntilDue: number | null; tax: TaxSettings }>;
export type InvoiceCommand = IssueInvoice;
export type InvoiceState = { status: 'none' } | { status: 'open'; invoiceId: string };

export const invoiceDecider: Decider<InvoiceCommand, InvoiceEvent, InvoiceState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    if (state.status !== 'none') return []; // issued once per source event
    const { daysUntilDue, tax, ...d } = command.data;
    const issuedAt = command.metadata.now;
    const { subtotal, taxAmount, total } = invoiceTotals(d.lines, tax);
    const dueAt = d.collectionMethod === 'send_invoice' ? new Date(Date.parse(issuedAt) + (daysUntilDue ?? 30) * 86_400_000).toISOString() : null;
    return [{ type: 'invoice.invoice.finalized', data: { ...d, subtotal, tax: { ...tax, amount: taxAmount }, total, amountDue: Math.max(total, 0), issuedAt, dueAt } }];
  },
  evolve(state, event) {
    return event.type === 'invoice.invoice.finalized' ? { status: 'open', invoiceId: event.data.invoiceId } : state;
  },
};
