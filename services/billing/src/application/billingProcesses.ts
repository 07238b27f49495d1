import type { BillingEvent, InvoiceFinalized } from '@curbmap/contracts';
import { handleCommand, type StoredEvent } from '@curbmap/eventsourcing';
import { creditDecider, creditStream } from '../domain/credit/creditDecider.ts';
import type { Running, ServiceContext } from '@curbmap/service-kit';
import { runReceivableCommand } from './receivableCommands.ts';
import { runSubscriptionCommand } from './subscriptionCommands.ts';

const meta = (stored: StoredEvent, action: string) => ({
  commandId: `${action}:${stored.id}`,
  now: stored.occurredAt,
  organizationId: stored.organizationId,
  correlationId: stored.correlationId,
  causationId: stored.id,
});

/** An over-payment becomes credit; a new receivable is settled from credit first. */
async function handleCredit(ctx: ServiceContext, stored: StoredEvent): Promise<void> {
  const event = { type: stored.type, data: stored.data } as BillingEvent;
  const stream = creditStream(stored.organizationId);
  if (event.type === 'billing.payment.succeeded' && event.data.excessAmount > 0 && event.data.method !== 'credit_balance') {
    const { excessAmount: amount, currency, paymentId: sourcePaymentId } = event.data;
    await handleCommand(ctx.store, creditDecider, stream, { type: 'GrantCredit', data: { amount, currency, sourcePaymentId }, metadata: meta(stored, 'grant-credit') });
  }
  if (event.type === 'billing.receivable.opened' && event.data.amountDue > 0) {
    const { invoiceId, currency, amountDue } = event.data;
    const taken = await handleCommand(ctx.store, creditDecider, stream, { type: 'ApplyCredit', data: { invoiceId, currency, upTo: amountDue }, metadata: meta(stored, 'apply-credit') });
    const applied = taken.events.find((e) => e.type === 'billing.credit.applied');
    if (applied) {
      await runReceivableCommand(ctx, invoiceId, { type: 'SettleFromCredit', data: { paymentId: `credit_${invoiceId}`, amount: applied.data.amount, currency, receivedAt: stored.occurredAt }, metadata: meta(stored, 'settle-credit') }, { consistent: false });
    }
  }
}

/**
 * Reactions of billing to other events: an issued invoice opens a receivable (what is owed); a receivable paid
 * in full brings a past-due subscription back; over-payments become credit spent on the next invoices.
 * Command ids derive from the source event: redelivery is harmless.
 */
export function startBillingProcesses(ctx: ServiceContext): Running {
  const types = ['invoice.invoice.finalized', 'billing.payment.succeeded', 'billing.receivable.opened'];
  const sub = ctx.subscriptions.subscribe('billing.processes.v1', { types }, async (batch) => {
    for (const stored of batch) {
      await handleCredit(ctx, stored);
      if (stored.type === 'billing.receivable.opened') continue;
      if (stored.type === 'invoice.invoice.finalized') {
        const d = (stored as unknown as InvoiceFinalized).data;
        await runReceivableCommand(ctx, d.invoiceId, {
          type: 'OpenReceivable',
          data: { invoiceId: d.invoiceId, subscriptionId: d.subscriptionId, amountDue: d.amountDue, currency: d.currency, dueAt: d.dueAt, collectionMethod: d.collectionMethod },
          metadata: meta(stored, 'open-receivable'),
        }, { consistent: false });
      } else {
        const d = (stored as unknown as Extract<BillingEvent, { type: 'billing.payment.succeeded' }>).data;
        if (d.amountRemaining === 0 && d.invoiceId) await runSubscriptionCommand(ctx, { type: 'RecoverSubscription', data: { invoiceId: d.invoiceId }, metadata: meta(stored, 'recover') }, { consistent: false });
      }
    }
  });
  return { stop: () => sub.stop() };
}
