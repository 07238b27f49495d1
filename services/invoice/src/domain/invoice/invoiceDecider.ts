import type { InvoiceEvent, InvoiceFinalized, TaxSettings } from '@curbmap/contracts';
import { DateTime } from 'luxon';
import { invoiceTotals } from '../tax/invoiceTax.ts';
import type { Command, Decider } from '@curbmap/eventsourcing';

export const invoiceStream = (invoiceId: string) => `invoice-${invoiceId}`;

/** `number` is assigned before (gap-free per organization and year: application/invoiceNumbers.ts). */
export type IssueInvoice = Command<'IssueInvoice', Omit<InvoiceFinalized['data'], 'subtotal' | 'tax' | 'total' | 'amountDue' | 'issuedAt' | 'dueAt'> & { daysUntilDue: number | null; tax: TaxSettings; timeZone: string }>;

/** Due at the end of the day, in the organization's zone, `days` days after the issue date there. */
export function dueDate(issuedAt: string, days: number, timeZone: string): string {
  return DateTime.fromISO(issuedAt, { zone: timeZone }).plus({ days }).endOf('day').toUTC().toISO()!;
}
export type InvoiceCommand = IssueInvoice;
export type InvoiceState = { status: 'none' } | { status: 'open'; invoiceId: string };

export const invoiceDecider: Decider<InvoiceCommand, InvoiceEvent, InvoiceState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    if (state.status !== 'none') return []; // issued once per source event
    const { daysUntilDue, tax, timeZone, ...d } = command.data;
    const issuedAt = command.metadata.now;
    const { subtotal, taxAmount, total } = invoiceTotals(d.lines, tax);
    const dueAt = d.collectionMethod === 'send_invoice' ? dueDate(issuedAt, daysUntilDue ?? 30, timeZone) : null;
    return [{ type: 'invoice.invoice.finalized', data: { ...d, subtotal, tax: { ...tax, amount: taxAmount }, total, amountDue: Math.max(total, 0), issuedAt, dueAt } }];
  },
  evolve(state, event) {
    return event.type === 'invoice.invoice.finalized' ? { status: 'open', invoiceId: event.data.invoiceId } : state;
  },
};
