import type { BillingEvent, InvoiceFinalized } from '@curbmap/contracts';
import type { StoredEvent } from '@curbmap/eventsourcing';
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

/**
 * Reactions of billing to other events: an issued invoice opens a receivable (what is owed); a receivable paid
 * in full brings a past-due subscription back. Command ids derive from the source event: redelivery is harmless.
 */
export function startBillingProcesses(ctx: ServiceContext): Running {
  const sub = ctx.subscriptions.subscribe('billing.processes.v1', { types: ['invoice.invoice.finalized', 'billing.payment.succeeded'] }, async (batch) => {
    for (const stored of batch) {
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
