import type { BillingEvent, InvoiceEvent } from '@curbmap/contracts';
import { deterministicUuid, NotFoundError, type StoredEvent } from '@curbmap/eventsourcing';
import { reactionMetadata as meta, runCommand, type Running, type ServiceContext } from '@curbmap/service-kit';
import { billingCollections as C, type ReceivableView } from '../projections/billingProjections.ts';
import { creditDecider, creditStream } from '../domain/credit/creditDecider.ts';
import { runReceivableCommand } from './receivableCommands.ts';
import { runSubscriptionCommand } from './subscriptionCommands.ts';

const reactive = { consistent: false };

/** Where a credit came from: the stream version a reader of it waits for. */
const sourceOf = (stored: StoredEvent) => ({ streamId: stored.streamId, version: stored.streamVersion, type: stored.type });

/**
 * A correction of an invoice with no receivable here: one Stripe collects (its mirror opened none), so there is
 * nothing of ours to follow. This process opens a receivable before it sees any correction of the same invoice.
 */
const unlessStripes = (run: Promise<unknown>) => run.catch((err: unknown) => {
  if (!(err instanceof NotFoundError)) throw err;
});

async function react(ctx: ServiceContext, stored: StoredEvent): Promise<void> {
  const event = { type: stored.type, data: stored.data } as BillingEvent | InvoiceEvent;
  switch (event.type) {
    // An issued invoice opens a receivable: what is owed.
    case 'invoice.invoice.finalized': {
      const d = event.data;
      // A mirror of Stripe's invoice: Stripe collects it (and dunning is Stripe's); its payments come from Stripe.
      if (d.sourceEventType === 'billing.stripe_event.received') return;
      const data = { invoiceId: d.invoiceId, subscriptionId: d.subscriptionId, amountDue: d.amountDue, currency: d.currency, dueAt: d.dueAt, collectionMethod: d.collectionMethod };
      await runReceivableCommand(ctx, d.invoiceId, { type: 'OpenReceivable', data, metadata: meta(stored, 'open-receivable') }, reactive);
      // A negative total (a proration whose credit exceeds its charge) is owed to the customer: nothing is due on
      // the invoice (amountDue 0) and the difference becomes credit, never dropped.
      if (d.total < 0) {
        const credit = { amount: -d.total, currency: d.currency, sourcePaymentId: `invoice_${d.invoiceId}`, source: sourceOf(stored) };
        await runCommand(ctx, creditDecider, creditStream(stored.organizationId), { type: 'GrantCredit', data: credit, metadata: meta(stored, 'grant-credit') }, reactive);
      }
      return;
    }
    // The operator voided the invoice, or wrote it off: its receivable follows.
    case 'invoice.invoice.voided':
      await unlessStripes(runReceivableCommand(ctx, event.data.invoiceId, { type: 'CancelReceivable', data: {}, metadata: meta(stored, 'cancel-receivable') }, reactive));
      return;
    case 'invoice.invoice.marked_uncollectible':
      await unlessStripes(runReceivableCommand(ctx, event.data.invoiceId, { type: 'WriteOffReceivable', data: {}, metadata: meta(stored, 'write-off-receivable') }, reactive));
      return;
    case 'invoice.credit_note.issued':
      await unlessStripes(runReceivableCommand(ctx, event.data.invoiceId, { type: 'CreditReceivable', data: { creditNoteId: event.data.creditNoteId, amount: event.data.amount }, metadata: meta(stored, 'credit-receivable') }, reactive));
      return;
    // What a credit note took off an invoice already paid returns as credit; an invoice it settles recovers its subscription.
    case 'billing.receivable.credited': {
      const d = event.data;
      if (d.excessPaid > 0) {
        await runCommand(ctx, creditDecider, creditStream(stored.organizationId), { type: 'GrantCredit', data: { amount: d.excessPaid, currency: d.currency, sourcePaymentId: `creditnote_${d.creditNoteId}`, source: sourceOf(stored) }, metadata: meta(stored, 'grant-credit') }, reactive);
      }
      if (d.amountRemaining === 0) await runSubscriptionCommand(ctx, { type: 'RecoverSubscription', data: { invoiceId: d.invoiceId }, metadata: meta(stored, 'recover') }, reactive);
      return;
    }
    // Nothing is owed on it any more: what was paid returns as credit, and a subscription it held past due recovers.
    case 'billing.receivable.canceled':
    case 'billing.receivable.written_off': {
      const d = event.data;
      if (event.type === 'billing.receivable.canceled' && event.data.amountPaid > 0) {
        const data = { amount: event.data.amountPaid, currency: event.data.currency, sourcePaymentId: `void_${d.invoiceId}`, source: sourceOf(stored) };
        await runCommand(ctx, creditDecider, creditStream(stored.organizationId), { type: 'GrantCredit', data, metadata: meta(stored, 'grant-credit') }, reactive);
      }
      await runSubscriptionCommand(ctx, { type: 'RecoverSubscription', data: { invoiceId: d.invoiceId }, metadata: meta(stored, 'recover') }, reactive);
      return;
    }
    // A new receivable is settled from the organization's credit first.
    case 'billing.receivable.opened': {
      const { invoiceId, currency, amountDue } = event.data;
      if (amountDue === 0) return;
      const taken = await runCommand(ctx, creditDecider, creditStream(stored.organizationId), { type: 'ApplyCredit', data: { invoiceId, currency, upTo: amountDue }, metadata: meta(stored, 'apply-credit') }, reactive);
      const applied = taken.events.find((e) => e.type === 'billing.credit.applied');
      if (!applied) return;
      const data = { paymentId: `credit_${invoiceId}`, amount: applied.data.amount, currency, receivedAt: stored.occurredAt };
      await runReceivableCommand(ctx, invoiceId, { type: 'SettleFromCredit', data, metadata: meta(stored, 'settle-credit') }, reactive);
      return;
    }
    // An over-payment becomes credit (so does credit that found its invoice already paid); a receivable paid
    // in full brings a past-due subscription back.
    case 'billing.payment.succeeded': {
      const d = event.data;
      if (d.excessAmount > 0) {
        const data = { amount: d.excessAmount, currency: d.currency, sourcePaymentId: d.paymentId, source: sourceOf(stored) };
        await runCommand(ctx, creditDecider, creditStream(stored.organizationId), { type: 'GrantCredit', data, metadata: meta(stored, 'grant-credit') }, reactive);
      }
      if (d.amountRemaining === 0 && d.invoiceId) await runSubscriptionCommand(ctx, { type: 'RecoverSubscription', data: { invoiceId: d.invoiceId }, metadata: meta(stored, 'recover') }, reactive);
      return;
    }
    // New credit settles the organization's other open invoices in its currency at once, oldest first.
    case 'billing.credit.granted': {
      const { currency } = event.data;
      // The receivables read model must show the write this credit came from (the over-payment, above all), or it
      // would offer that payment's own invoice: wait for that very stream version (Kafka orders per stream only).
      const source = (event.data as { source?: { streamId: string; version: number; type: string } }).source;
      if (source) await ctx.waitForReadModels({ streamId: source.streamId, version: source.version, types: [source.type], position: stored.globalPosition });
      const open = await ctx.readStore.find<ReceivableView>(C.receivables, { organizationId: stored.organizationId, currency, amountRemaining: { $gt: 0 } }, { orderBy: 'openedAt' });
      for (const r of open) {
        const taken = await runCommand(ctx, creditDecider, creditStream(stored.organizationId), { type: 'ApplyCredit', data: { invoiceId: r.id, currency, upTo: r.amountRemaining }, metadata: meta(stored, `apply-credit:${r.id}`) }, reactive);
        const applied = taken.events.find((e) => e.type === 'billing.credit.applied');
        if (!applied) return; // the balance is spent
        const data = { paymentId: `credit_${deterministicUuid(`${stored.id}:${r.id}`).replace(/-/g, '')}`, amount: applied.data.amount, currency, receivedAt: stored.occurredAt };
        await runReceivableCommand(ctx, r.id, { type: 'SettleFromCredit', data, metadata: meta(stored, `settle-credit:${r.id}`) }, reactive);
      }
      return;
    }
    default:
      return;
  }
}

export const BILLING_PROCESSES = 'billing.processes.v1';

/** Billing's reactions to invoices and payments. Command ids derive from the source event: redelivery is harmless. */
export function startBillingProcesses(ctx: ServiceContext): Running {
  const types = ['invoice.invoice.finalized', 'invoice.invoice.voided', 'invoice.invoice.marked_uncollectible', 'invoice.credit_note.issued', 'billing.receivable.opened', 'billing.receivable.canceled', 'billing.receivable.written_off', 'billing.receivable.credited', 'billing.payment.succeeded', 'billing.credit.granted'];
  const sub = ctx.subscriptions.subscribe(BILLING_PROCESSES, { types }, async (batch) => {
    for (const stored of batch) await react(ctx, stored);
  });
  return { stop: () => sub.stop() };
}
