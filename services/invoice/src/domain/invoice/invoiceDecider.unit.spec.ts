import { describe, expect, it } from 'vitest';
import { IllegalStateError, NotFoundError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { dueDate, invoiceDecider, type DraftInvoice } from './invoiceDecider.ts';

describe('invoice due dates', () => {
  it('fall at the end of the day in the organization\'s zone, daylight saving included', () => {
    // Issued 09:30 on 10 March in Chicago (CST); 30 days on is 9 April (CDT): 23:59:59.999 there.
    expect(dueDate('2027-03-10T15:30:00Z', 30, 'America/Chicago')).toBe('2027-04-10T04:59:59.999Z');
    // 23:30 UTC on 31 May is already 1 June in Tokyo: due 1 July, end of day in Tokyo.
    expect(dueDate('2027-05-31T23:30:00Z', 30, 'Asia/Tokyo')).toBe('2027-07-01T14:59:59.999Z');
    expect(dueDate('2027-05-31T23:30:00Z', 0, 'UTC')).toBe('2027-05-31T23:59:59.999Z');
  });
});

describe('invoice decider', () => {
  const metadata: CommandMetadata = { commandId: 'c', now: '2027-03-10T15:30:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
  const line = { description: 'City plan, 1 seat', quantity: 1, unitAmount: 360_000, amount: 360_000, periodStart: '2027-03-10T06:00:00.000Z', periodEnd: '2028-03-10T06:00:00.000Z' };
  const draft: DraftInvoice = {
    type: 'DraftInvoice',
    data: { invoiceId: '9a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01', subscriptionId: null, currency: 'USD', lines: [line], collectionMethod: 'send_invoice', poNumber: 'PO-1', sourceEventId: '9a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a02', sourceEventType: 'billing.subscription.activated', daysUntilDue: 30, tax: { rateBasisPoints: 825, mode: 'exclusive', note: null }, timeZone: 'America/Chicago' },
    metadata,
  };
  it('is drawn up once with its subtotal, tax and total, then finalized once with its number, due at the end of the local day', () => {
    const spec = deciderSpec(invoiceDecider);
    const totals = { subtotal: 360_000, tax: { rateBasisPoints: 825, mode: 'exclusive' as const, note: null, amount: 29_700 }, total: 389_700 };
    const drafted = { type: 'invoice.invoice.drafted' as const, data: { ...draft.data, ...totals } };
    // Finalized the next day: issued and due from that day, not the draft's.
    const finalizeAt = { ...metadata, now: '2027-03-11T15:30:00.000Z' };
    const finalize = { type: 'FinalizeInvoice' as const, data: { number: 'CM-2027-000001' }, metadata: finalizeAt };
    const { daysUntilDue: _d, timeZone: _z, ...kept } = drafted.data;
    const finalized = { type: 'invoice.invoice.finalized' as const, data: { ...kept, number: 'CM-2027-000001', amountDue: 389_700, issuedAt: finalizeAt.now, dueAt: '2027-04-11T04:59:59.999Z' } };
    spec.given([]).when(draft).then([drafted]);
    spec.given([drafted]).when(draft).then([]);
    spec.given([drafted]).when(finalize).then([finalized]);
    spec.given([drafted, finalized]).when(finalize).then([]);
    spec.given([drafted, finalized]).when({ ...finalize, data: { number: 'CM-2027-000002' } }).thenThrows(IllegalStateError, /already finalized as CM-2027-000001/);
    spec.given([]).when(finalize).thenThrows(NotFoundError);
    // A draft is not payable: it is neither voided nor credited before it is finalized.
    spec.given([drafted]).when({ type: 'IssueCreditNote', data: { creditNoteId: 'aa000000-0000-4000-8000-000000000001', amount: 1, reason: 'r' }, metadata }).thenThrows(IllegalStateError, /draft/);
  });
});

describe('invoice corrections', () => {
  const metadata: CommandMetadata = { commandId: 'c', now: '2027-04-01T00:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
  const invoiceId = '9a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
  const finalized = { type: 'invoice.invoice.finalized' as const, data: { invoiceId } } as never;
  const voided = { type: 'invoice.invoice.voided' as const, data: { invoiceId, reason: 'error' } };
  const marked = { type: 'invoice.invoice.marked_uncollectible' as const, data: { invoiceId, reason: 'gone' } };
  const spec = deciderSpec(invoiceDecider);
  const voidIt = (amountPaid: number) => ({ type: 'VoidInvoice' as const, data: { reason: 'error', amountPaid }, metadata });
  const markIt = (paidInFull: boolean) => ({ type: 'MarkUncollectible' as const, data: { reason: 'gone', paidInFull }, metadata });
  it('void an invoice nothing was paid on, once; never one with a payment, nor an uncollectible one', () => {
    spec.given([finalized]).when(voidIt(0)).then([voided]);
    spec.given([finalized, voided]).when(voidIt(0)).then([]);
    spec.given([finalized]).when(voidIt(1)).thenThrows(IllegalStateError, /credit note/);
    spec.given([finalized, marked]).when(voidIt(0)).thenThrows(IllegalStateError);
    spec.given([]).when(voidIt(0)).thenThrows(NotFoundError);
    // A negative total was granted as credit when issued: voiding it would leave the customer that credit for nothing.
    const negative = { type: 'invoice.invoice.finalized' as const, data: { invoiceId, total: -12_000 } } as never;
    spec.given([negative]).when(voidIt(0)).thenThrows(IllegalStateError, /negative total/);
  });
  it('mark uncollectible what is still owed, once; never a void or fully paid one', () => {
    spec.given([finalized]).when(markIt(false)).then([marked]);
    spec.given([finalized, marked]).when(markIt(true)).then([]);
    spec.given([finalized]).when(markIt(true)).thenThrows(IllegalStateError, /paid in full/);
    spec.given([finalized, voided]).when(markIt(false)).thenThrows(IllegalStateError);
  });
});

describe('credit notes', () => {
  const metadata: CommandMetadata = { commandId: 'c', now: '2027-04-01T00:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
  const invoiceId = '9a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
  const finalized = { type: 'invoice.invoice.finalized' as const, data: { invoiceId, number: 'CM-2027-000042', currency: 'KWD', total: 1_000 } } as never;
  const note = (id: string, amount: number) => ({ type: 'IssueCreditNote' as const, data: { creditNoteId: id, amount, reason: 'r' }, metadata });
  const issued = (id: string, n: string, amount: number) => ({ type: 'invoice.credit_note.issued' as const, data: { creditNoteId: id, invoiceId, number: `CM-2027-000042-${n}`, amount, currency: 'KWD', reason: 'r' } });
  const a = 'aa000000-0000-4000-8000-000000000001';
  const b = 'aa000000-0000-4000-8000-000000000002';
  const spec = deciderSpec(invoiceDecider);
  it('are numbered after their invoice, once each, and never credit more than the total', () => {
    spec.given([finalized]).when(note(a, 400)).then([issued(a, 'CN01', 400)]);
    spec.given([finalized, issued(a, 'CN01', 400)]).when(note(a, 400)).then([]);
    spec.given([finalized, issued(a, 'CN01', 400)]).when(note(b, 600)).then([issued(b, 'CN02', 600)]);
    spec.given([finalized, issued(a, 'CN01', 400)]).when(note(b, 601)).thenThrows(ValidationError, /1 to 600 KWD/);
    spec.given([finalized, { type: 'invoice.invoice.voided', data: { invoiceId, reason: 'x' } }]).when(note(b, 1)).thenThrows(IllegalStateError, /void/);
  });
});

describe('Stripe invoice mirrors', () => {
  const metadata: CommandMetadata = { commandId: 'c', now: '2027-04-01T00:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
  const invoiceId = '9a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a09';
  const finalized = { invoiceId, number: 'A1B2C3D4-0001', subscriptionId: null, currency: 'USD', lines: [], subtotal: 1_000, tax: { rateBasisPoints: 0, mode: 'exclusive' as const, note: null, amount: 0 }, total: 1_000, amountDue: 1_000, collectionMethod: 'charge_automatically' as const, poNumber: null, issuedAt: metadata.now, dueAt: null, sourceEventId: '9a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a10', sourceEventType: 'billing.stripe_event.received' };
  const mirror = (stripeStatus: 'open' | 'paid' | 'void' | 'uncollectible') => ({ type: 'MirrorStripeInvoice' as const, data: { finalized, stripeStatus }, metadata });
  const spec = deciderSpec(invoiceDecider);
  const f = { type: 'invoice.invoice.finalized' as const, data: finalized };
  const v = { type: 'invoice.invoice.voided' as const, data: { invoiceId, reason: 'voided in Stripe' } };
  it('take Stripe\'s number and amounts once and only move forward, whatever order Stripe\'s events arrive in', () => {
    spec.given([]).when(mirror('open')).then([f]);
    spec.given([]).when(mirror('void')).then([f, v]);
    spec.given([f]).when(mirror('paid')).then([]);
    spec.given([f, v]).when(mirror('open')).then([]);
    spec.given([f]).when(mirror('uncollectible')).then([{ type: 'invoice.invoice.marked_uncollectible', data: { invoiceId, reason: 'marked uncollectible in Stripe' } }]);
  });
  it('are corrected in Stripe, never by the operator here', () => {
    spec.given([f]).when({ type: 'VoidInvoice', data: { reason: 'x', amountPaid: 0 }, metadata }).thenThrows(IllegalStateError, /Stripe/);
    spec.given([f]).when({ type: 'IssueCreditNote', data: { creditNoteId: 'aa000000-0000-4000-8000-000000000001', amount: 1, reason: 'r' }, metadata }).thenThrows(IllegalStateError, /Stripe/);
  });
});
