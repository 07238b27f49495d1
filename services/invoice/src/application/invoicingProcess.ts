import type { BillingEvent } from '@curbmap/contracts';
import type { StoredEvent } from '@curbmap/eventsourcing';
import { writeOf, type Running, type ServiceContext } from '@curbmap/service-kit';
import { issueInvoiceFor } from './issueInvoice.ts';
import { invoiceCollections, type BillingTermsView } from '../projections/invoiceProjections.ts';

const chargeTypes = ['billing.subscription.activated', 'billing.subscription.renewed', 'billing.subscription.seats_changed', 'billing.subscription.plan_changed'];

/**
 * Bills what billing charges: one invoice per charge event (activation, renewal, prorated change). The invoice
 * id derives from the event id, so a redelivered event finds its invoice already issued.
 * Stripe-collected subscriptions are invoiced by Stripe itself.
 */
/** The subscription that turns billing's charges into invoices. */
export const INVOICING_PROCESS = 'invoice.invoicing-process.v1';

export function startInvoicingProcess(ctx: ServiceContext): Running {
  const sub = ctx.subscriptions.subscribe(INVOICING_PROCESS, { types: chargeTypes }, async (batch) => {
    for (const stored of batch) await issueFor(ctx, stored);
  });
  return { stop: () => sub.stop() };
}

async function subscriptionTerms(ctx: ServiceContext, stored: StoredEvent, subscriptionId: string): Promise<BillingTermsView | null> {
  await ctx.waitForReadModels(writeOf(stored));
  return ctx.readStore.get<BillingTermsView>(invoiceCollections.terms, subscriptionId);
}

async function issueFor(ctx: ServiceContext, stored: StoredEvent): Promise<void> {
  const event = { type: stored.type, data: stored.data } as BillingEvent;
  if (event.type !== 'billing.subscription.activated' && event.type !== 'billing.subscription.renewed' && event.type !== 'billing.subscription.seats_changed' && event.type !== 'billing.subscription.plan_changed') return;
  if ('effective' in event.data && event.data.effective !== 'now') return;
  if (event.data.lines.length === 0) return;
  // The terms the charge carries; an activation carries them as the subscription's own; a charge written
  // before charges carried terms falls back to its subscription's, projected from its activation.
  const terms = 'terms' in event.data ? (event.data.terms ?? (await subscriptionTerms(ctx, stored, event.data.subscriptionId))) : event.data;
  if (!terms || terms.provider === 'stripe') return;
  await issueInvoiceFor(ctx, stored, { idPrefix: 'invoice', action: 'invoice' }, { subscriptionId: event.data.subscriptionId, currency: event.data.currency, lines: event.data.lines, terms });
}
