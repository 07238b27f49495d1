import type { InvoiceEvent, InvoiceFinalized, TaxSettings } from '@curbmap/contracts';
import { DateTime } from 'luxon';
import { invoiceTotals } from '../tax/invoiceTax.ts';
import { IllegalStateError, NotFoundError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

export const invoiceStream = (invoiceId: string) => `invoice-${invoiceId}`;

/** Draws up the invoice of a cause: its lines, tax and totals, without a number yet. */
export type DraftInvoice = Command<'DraftInvoice', Omit<InvoiceFinalized['data'], 'number' | 'subtotal' | 'tax' | 'total' | 'amountDue' | 'issuedAt' | 'dueAt'> & { daysUntilDue: number | null; tax: TaxSettings; timeZone: string }>;
/** `number` is assigned just before (gap-free per organization and year: application/invoiceNumbers.ts). */
export type FinalizeInvoice = Command<'FinalizeInvoice', { number: string }>;

/** Due at the end of the day, in the organization's zone, `days` days after the issue date there. */
export function dueDate(issuedAt: string, days: number, timeZone: string): string {
  return DateTime.fromISO(issuedAt, { zone: timeZone }).plus({ days }).endOf('day').toUTC().toISO()!;
}
/** `amountPaid` is what billing shows paid on it now: a paid or partly paid invoice is never voided. */
export type VoidInvoice = Command<'VoidInvoice', { reason: string; amountPaid: number }>;
export type MarkUncollectible = Command<'MarkUncollectible', { reason: string; paidInFull: boolean }>;
export type IssueCreditNote = Command<'IssueCreditNote', { creditNoteId: string; amount: number; reason: string }>;
export type StorePdf = Command<'StorePdf', { sha256: string; bytes: number }>;
/**
 * Stripe's invoice as Stripe has it (Stripe-collected subscriptions are invoiced by Stripe): finalized with
 * Stripe's number and amounts, then void or uncollectible as Stripe says; paid through the payments billing records.
 */
export type MirrorStripeInvoice = Command<'MirrorStripeInvoice', { finalized: InvoiceFinalized['data']; stripeStatus: 'open' | 'paid' | 'void' | 'uncollectible' }>;
export const STRIPE_SOURCE = 'billing.stripe_event.received';
export type InvoiceCommand = DraftInvoice | FinalizeInvoice | VoidInvoice | MarkUncollectible | IssueCreditNote | StorePdf | MirrorStripeInvoice;
export type InvoiceDrafted = Extract<InvoiceEvent, { type: 'invoice.invoice.drafted' }>;
export type InvoiceLifecycleEvent = Extract<InvoiceEvent, { type: 'invoice.invoice.drafted' | 'invoice.invoice.finalized' | 'invoice.invoice.voided' | 'invoice.invoice.marked_uncollectible' | 'invoice.credit_note.issued' | 'invoice.pdf.stored' }>;
export type InvoiceState =
  | { status: 'none' }
  | { status: 'draft'; draft: InvoiceDrafted['data'] }
  | { status: 'open' | 'void' | 'uncollectible'; invoiceId: string; number: string; currency: string; total: number; credited: number; creditNotes: string[]; pdfSha256?: string; stripe?: boolean };

export const invoiceDecider: Decider<InvoiceCommand, InvoiceLifecycleEvent, InvoiceState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    if (command.type === 'DraftInvoice') {
      if (state.status !== 'none') return []; // drawn up once per cause
      const { tax, ...d } = command.data;
      const { subtotal, taxAmount, total } = invoiceTotals(d.lines, tax);
      return [{ type: 'invoice.invoice.drafted', data: { ...d, subtotal, tax: { ...tax, amount: taxAmount }, total } }];
    }
    if (command.type === 'FinalizeInvoice') {
      if (state.status === 'none') throw new NotFoundError('invoice');
      if (state.status !== 'draft') {
        if (state.number !== command.data.number) throw new IllegalStateError(`invoice is already finalized as ${state.number}`);
        return [];
      }
      const { daysUntilDue, timeZone, ...d } = state.draft;
      const issuedAt = command.metadata.now;
      const dueAt = d.collectionMethod === 'send_invoice' ? dueDate(issuedAt, daysUntilDue ?? 30, timeZone) : null;
      return [{ type: 'invoice.invoice.finalized', data: { ...d, number: command.data.number, amountDue: Math.max(d.total, 0), issuedAt, dueAt } }];
    }
    if (command.type === 'MirrorStripeInvoice') {
      if (state.status === 'draft') throw new IllegalStateError('a draft is not Stripe\'s');
      const events: InvoiceLifecycleEvent[] = [];
      // Finalized once; then only forward: a late `invoice.finalized` after `invoice.voided` changes nothing.
      if (state.status === 'none') events.push({ type: 'invoice.invoice.finalized', data: { ...command.data.finalized, sourceEventType: STRIPE_SOURCE } });
      const status = state.status === 'none' ? 'open' : state.status;
      const invoiceId = command.data.finalized.invoiceId;
      if (status === 'open' && command.data.stripeStatus === 'void') events.push({ type: 'invoice.invoice.voided', data: { invoiceId, reason: 'voided in Stripe' } });
      if (status === 'open' && command.data.stripeStatus === 'uncollectible') events.push({ type: 'invoice.invoice.marked_uncollectible', data: { invoiceId, reason: 'marked uncollectible in Stripe' } });
      return events;
    }
    if (state.status === 'draft') throw new IllegalStateError('the invoice is a draft: finalize it first');
    if (state.status !== 'none' && state.stripe && command.type !== 'StorePdf') throw new IllegalStateError('this invoice is Stripe\'s: void it, credit it or write it off in Stripe, and it follows');
    if (command.type === 'StorePdf') {
      if (state.status === 'none') throw new NotFoundError('invoice');
      // The first PDF stored is the invoice's for good.
      return state.pdfSha256 ? [] : [{ type: 'invoice.pdf.stored', data: { invoiceId: state.invoiceId, ...command.data } }];
    }
    if (command.type === 'IssueCreditNote') {
      if (state.status === 'none') throw new NotFoundError('invoice');
      const { creditNoteId, amount, reason } = command.data;
      if (state.creditNotes.includes(creditNoteId)) return [];
      if (state.status === 'void') throw new IllegalStateError('a void invoice is owed nothing: there is nothing to credit');
      const creditable = state.total - state.credited;
      if (!Number.isSafeInteger(amount) || amount < 1 || amount > creditable) throw new ValidationError(`a credit note on this invoice is 1 to ${creditable} ${state.currency} minor units (its total less what was credited before)`);
      const number = `${state.number}-CN${String(state.creditNotes.length + 1).padStart(2, '0')}`;
      return [{ type: 'invoice.credit_note.issued', data: { creditNoteId, invoiceId: state.invoiceId, number, amount, currency: state.currency, reason } }];
    }
    if (command.type === 'VoidInvoice' || command.type === 'MarkUncollectible') {
      if (state.status === 'none') throw new NotFoundError('invoice');
      const { reason } = command.data;
      if (command.type === 'VoidInvoice') {
        if (state.status === 'void') return [];
        if (state.credited > 0) throw new IllegalStateError('a credited invoice is not voided: credit the rest');
        // Its amount became the customer's credit when it was issued (and may be spent): correct it with a new invoice.
        if (state.total < 0) throw new IllegalStateError('an invoice with a negative total gave its amount to the customer as credit: it is not voided; issue a new invoice to correct it');
        if (state.status === 'uncollectible') throw new IllegalStateError('an uncollectible invoice is not voided; a credit note corrects it');
        if (command.data.amountPaid > 0) throw new IllegalStateError('something was paid on this invoice: it is corrected by a credit note, never voided');
        return [{ type: 'invoice.invoice.voided', data: { invoiceId: state.invoiceId, reason } }];
      }
      if (state.status === 'uncollectible') return [];
      if (state.status === 'void') throw new IllegalStateError('a void invoice is owed nothing: it cannot be uncollectible');
      if (command.data.paidInFull) throw new IllegalStateError('this invoice is paid in full: nothing is left to collect');
      return [{ type: 'invoice.invoice.marked_uncollectible', data: { invoiceId: state.invoiceId, reason } }];
    }
    const never: never = command;
    return never;
  },
  evolve(state, event) {
    switch (event.type) {
      case 'invoice.invoice.drafted':
        return { status: 'draft', draft: event.data };
      case 'invoice.invoice.finalized':
        return { status: 'open', invoiceId: event.data.invoiceId, number: event.data.number, currency: event.data.currency, total: event.data.total, credited: 0, creditNotes: [], ...(event.data.sourceEventType === STRIPE_SOURCE ? { stripe: true } : {}) };
      case 'invoice.invoice.voided':
        return state.status === 'none' || state.status === 'draft' ? state : { ...state, status: 'void' };
      case 'invoice.invoice.marked_uncollectible':
        return state.status === 'none' || state.status === 'draft' ? state : { ...state, status: 'uncollectible' };
      case 'invoice.pdf.stored':
        return state.status === 'none' || state.status === 'draft' ? state : { ...state, pdfSha256: event.data.sha256 };
      case 'invoice.credit_note.issued':
        return state.status === 'none' || state.status === 'draft' ? state : { ...state, credited: state.credited + event.data.amount, creditNotes: [...state.creditNotes, event.data.creditNoteId] };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
