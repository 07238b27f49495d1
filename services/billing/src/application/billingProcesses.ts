import type { BillingEvent, InvoiceFinalized } from '@curbmap/contracts';
import type { StoredEvent } from '@curbmap/eventsourcing';
import { reactionMetadata as meta, runCommand, type Running, type ServiceContext } from '@curbmap/service-kit';
import { creditDecider, creditStream } from '../domain/credit/creditDecider.ts';
import { runReceivableCommand } from './receivableCommands.ts';
import { runSubscriptionCommand } from './subscriptionCommands.ts';

const reactive = { consistent: false };

async function react(ctx: ServiceContext, stored: StoredEvent): Promise<void> {
  const event = { type: stored.type, data: stored.data } as BillingEvent | InvoiceFinalized;
  switch (event.type) {
    // An issued invoice opens a receivable: what is owed.
    case 'invoice.invoice.finalized': {
      const d = event.data;
      const data = { invoiceId: d.invoiceId, subscriptionId: d.subscriptionId, amountDue: d.amountDue, currency: d.currency, dueAt: d.dueAt, collectionMethod: d.collectionMethod };
      await runReceivableCommand(ctx, d.invoiceId, { type: 'OpenReceivable', data, metadata: meta(stored, 'open-receivable') }, reactive);
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
    // An over-payment becomes credit; a receivable paid in full brings a past-due subscription back.
    case 'billing.payment.succeeded': {
      const d = event.data;
      if (d.excessAmount > 0 && d.method !== 'credit_balance') {
        const data = { amount: d.excessAmount, currency: d.currency, sourcePaymentId: d.paymentId };
        await runCommand(ctx, creditDecider, creditStream(stored.organizationId), { type: 'GrantCredit', data, metadata: meta(stored, 'grant-credit') }, reactive);
      }
      if (d.amountRemaining === 0 && d.invoiceId) await runSubscriptionCommand(ctx, { type: 'RecoverSubscription', data: { invoiceId: d.invoiceId }, metadata: meta(stored, 'recover') }, reactive);
      return;
    }
    default:
      return;
  }
}

/** Billing's reactions to invoices and payments. Command ids derive from the source event: redelivery is harmless. */
export function startBillingProcesses(ctx: ServiceContext): Running {
  const types = ['invoice.invoice.finalized', 'billing.receivable.opened', 'billing.payment.succeeded'];
  const sub = ctx.subscriptions.subscribe('billing.processes.v1', { types }, async (batch) => {
    for (const stored of batch) await react(ctx, stored);
  });
  return { stop: () => sub.stop() };
}
