import type { ChargeLine, UsageEvent } from '@curbmap/contracts';
import type { StoredEvent } from '@curbmap/eventsourcing';
import type { Running, ServiceContext } from '@curbmap/service-kit';
import { issueInvoiceFor } from './issueInvoice.ts';
import { invoiceCollections, type BillingTermsView } from '../projections/invoiceProjections.ts';

/** A plan's price for use over what it includes: per `unitSize` units, in minor units of each currency. */
export type OveragePrice = (planId: string, meter: string) => { unitSize: number; prices: Record<string, number> } | null;
/** What a plan includes of a meter (null: not priced). */
export type IncludedAmount = (planId: string, meter: string) => number | null;

type PeriodClosed = Extract<UsageEvent, { type: 'usage.period.closed' }>;
type AdjustmentRecorded = Extract<UsageEvent, { type: 'usage.adjustment.recorded' }>;

/** Billable units of a total: whole unit sizes over the included amount, rounded up. */
const unitsOver = (total: number | null, included: number, unitSize: number) => (total === null || total <= included ? 0 : Math.ceil((total - included) / unitSize));

/**
 * An adjustment after the close (late usage, a correction) as a line: the units it adds over what the close
 * billed. Fewer units (a credit) need a credit note, which the invoice service does not issue yet: null.
 */
export function adjustmentLine(adjustment: AdjustmentRecorded['data'], currency: string, price: OveragePrice, included: IncludedAmount): ChargeLine | null {
  const pricing = price(adjustment.planId, adjustment.meter);
  const inPlan = included(adjustment.planId, adjustment.meter);
  const unitAmount = pricing?.prices[currency];
  if (!pricing || inPlan === null || unitAmount === undefined) return null;
  const added = unitsOver(adjustment.total, inPlan, pricing.unitSize) - unitsOver(adjustment.previousTotal, inPlan, pricing.unitSize);
  if (added <= 0) return null;
  return {
    description: `Overage adjustment ${adjustment.meter}: ${adjustment.previousTotal ?? 0} → ${adjustment.total ?? 0} after the close, ${added} × ${pricing.unitSize} more`,
    quantity: added,
    unitAmount,
    amount: added * unitAmount,
    periodStart: adjustment.periodStart,
    periodEnd: adjustment.periodEnd,
  };
}

/**
 * The overage of a closed subscription year (`usage.period.closed`): use over the plan's included amount, in
 * whole units of the plan's unit size rounded up, at the plan's price in the subscription's currency, one line
 * per meter (its description names the CSV of the usage behind it). One invoice per closed period, its id
 * derived from the event, so a redelivery issues nothing twice. Stripe-collected subscriptions are left to Stripe.
 */
export function overageLines(closed: PeriodClosed['data'], currency: string, price: OveragePrice): ChargeLine[] {
  const lines: ChargeLine[] = [];
  for (const t of closed.totals) {
    if (t.total === null || t.included === null || t.total <= t.included) continue;
    const pricing = price(closed.planId, t.meter);
    const unitAmount = pricing?.prices[currency];
    if (!pricing || unitAmount === undefined) continue;
    const units = unitsOver(t.total, t.included, pricing.unitSize);
    const csv = `/v1/usage/report.csv?meter=${t.meter}&from=${closed.periodStart}&to=${closed.periodEnd}`;
    lines.push({
      description: `Overage ${t.meter}: ${t.total - t.included} over the ${t.included} included, ${units} × ${pricing.unitSize} (usage: ${csv})`,
      quantity: units,
      unitAmount,
      amount: units * unitAmount,
      periodStart: closed.periodStart,
      periodEnd: closed.periodEnd,
    });
  }
  return lines;
}

export function startOverageInvoicing(ctx: ServiceContext, price: OveragePrice, included: IncludedAmount): Running {
  const sub = ctx.subscriptions.subscribe('invoice.overage-process.v1', { types: ['usage.period.closed', 'usage.adjustment.recorded'] }, async (batch) => {
    for (const stored of batch) await invoiceOverage(ctx, stored, price, included);
  });
  return { stop: () => sub.stop() };
}

async function invoiceOverage(ctx: ServiceContext, stored: StoredEvent, price: OveragePrice, included: IncludedAmount): Promise<void> {
  // The organization's subscription: its currency and the terms it is invoiced on.
  const [terms] = await ctx.readStore.find<BillingTermsView>(invoiceCollections.terms, { organizationId: stored.organizationId }, { orderBy: 'activatedAt', direction: 'desc', limit: 1 });
  if (!terms || terms.provider === 'stripe') return;
  const event = stored as StoredEvent & (PeriodClosed | AdjustmentRecorded);
  const lines = event.type === 'usage.period.closed' ? overageLines(event.data, terms.currency, price) : [adjustmentLine(event.data, terms.currency, price, included)].filter((l): l is ChargeLine => l !== null);
  if (lines.length === 0) return;
  await issueInvoiceFor(ctx, stored, { idPrefix: 'overage', action: 'overage-invoice' }, { subscriptionId: terms.subscriptionId, currency: terms.currency, lines, terms });
}
