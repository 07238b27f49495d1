import type { ChargeLine, Meter, PlanVersion, UsageEvent } from '@curbmap/contracts';
import { deterministicUuid, handleCommand, type StoredEvent } from '@curbmap/eventsourcing';
import { annualCommitment, unitsOver } from '@curbmap/contracts';
import { ContractReader, contractProjection, contractVersionCaughtUp, planCatalogProjection, PlanReader, reactionMetadata, subscriptionsAtHead, usageTermsOfYear, type PricingCopies, type Running, type ServiceContext, type YearUsageTerms } from '@curbmap/service-kit';
import { revenueCollections, revenueProjection, type RevenueInvoiceView } from '../projections/revenueProjection.ts';
import { issueInvoiceFor } from './issueInvoice.ts';
import { invoiceDecider, invoiceStream } from '../domain/invoice/invoiceDecider.ts';
import { grossedUp, invoiceTotals, lineTax } from '../domain/tax/invoiceTax.ts';
import { taxSettingsOf } from './taxSettings.ts';
import { INVOICING_PROCESS } from './invoicingProcess.ts';
import { formatMoney } from '../domain/template/money.ts';
import { invoiceCollections, invoicesProjection, type BillingTermsView, type InvoiceOrganizationView, type InvoiceView } from '../projections/invoiceProjections.ts';

/**
 * A year's price for use over what it includes: per `unitSize` units, in minor units of each currency; `contract`
 * names the negotiated contract that set the meter's terms (its reference), printed on the line.
 */
export type OveragePrice = (planId: string, meter: string) => { unitSize: number; prices: Record<string, number>; contract?: string } | null;
/** What a plan includes of a meter (null: not priced). */
export type IncludedAmount = (planId: string, meter: string) => number | null;

/** Invoice's copy of the catalogue (billing's plan events): overage prices and included amounts, version by version. */
export const invoicePlansCollection = 'invoice_plans';
export const invoicePlansProjection = planCatalogProjection('invoice.plans.v1', invoicePlansCollection);

type PeriodClosed = Extract<UsageEvent, { type: 'usage.period.closed' }>;
type AdjustmentRecorded = Extract<UsageEvent, { type: 'usage.adjustment.recorded' }>;


/**
 * An adjustment after the close (late usage, a correction) as a line: the units it adds over, or takes from,
 * what was billed for the period. `credit`: fewer units, credited by a credit note on the period's invoices.
 */
export function adjustmentLine(adjustment: AdjustmentRecorded['data'], currency: string, price: OveragePrice, included: IncludedAmount): (ChargeLine & { credit: boolean }) | null {
  const pricing = price(adjustment.planId, adjustment.meter);
  const inPlan = included(adjustment.planId, adjustment.meter);
  const unitAmount = pricing?.prices[currency];
  if (!pricing || inPlan === null || unitAmount === undefined) return null;
  const added = unitsOver(adjustment.total, inPlan, pricing.unitSize) - unitsOver(adjustment.previousTotal, inPlan, pricing.unitSize);
  if (added === 0) return null;
  const units = Math.abs(added);
  exactAmount(units, unitAmount, adjustment.meter);
  return {
    description: `Overage adjustment ${adjustment.meter}: ${adjustment.previousTotal ?? 0} → ${adjustment.total ?? 0} after the close, ${units} × ${pricing.unitSize} ${added > 0 ? 'more' : 'fewer'}`,
    quantity: units,
    unitAmount,
    amount: units * unitAmount,
    periodStart: adjustment.periodStart,
    periodEnd: adjustment.periodEnd,
    meter: adjustment.meter,
    credit: added < 0,
  };
}

/**
 * An amount past 2^53 minor units cannot be counted exactly (nor can an invoice carry it): refused, so the event is
 * retried and then parked for the operator, never billed rounded.
 */
function exactAmount(units: number, unitAmount: number, meter: string): void {
  if (!Number.isSafeInteger(units * unitAmount)) throw new Error(`the overage of ${meter} (${units} units at ${unitAmount}) is past what an amount can hold exactly`);
}

/** Does this line bill the overage of this meter for the period (the close's line, or a later adjustment's)? */
const billsOverage = (line: ChargeLine, meter: string, periodStart: string) => line.periodStart === periodStart && (line.description.startsWith(`Overage ${meter}:`) || line.description.startsWith(`Overage adjustment ${meter}:`)) && !line.description.endsWith(' fewer');

/**
 * Credits what an adjustment takes off a closed period: credit notes on the invoices that billed the meter's
 * overage for it, newest first, each at most what is still creditable, for the units' amount with the invoice's
 * tax. Each credit note's id derives from the adjustment and the invoice: a redelivery credits nothing twice.
 */
export async function creditOverage(ctx: ServiceContext, stored: StoredEvent, adjustment: AdjustmentRecorded['data'], line: ChargeLine, currency: string): Promise<void> {
  // Newest first: by issue time, then by number (invoices issued in the same instant).
  const invoices = (await ctx.readStore.find<InvoiceView>(invoiceCollections.invoices, { organizationId: stored.organizationId }))
    .filter((i) => i.status !== 'void' && i.lines.some((l) => billsOverage(l, adjustment.meter, adjustment.periodStart)))
    .sort((a, b) => b.issuedAt.localeCompare(a.issuedAt) || b.number.localeCompare(a.number, 'en', { numeric: true }));
  let left = line.amount;
  for (const invoice of invoices) {
    if (left <= 0) break;
    const billed = invoice.lines.filter((l) => billsOverage(l, adjustment.meter, adjustment.periodStart)).reduce((sum, l) => sum + l.amount, 0);
    const net = Math.min(left, billed);
    const gross = invoiceTotals([{ amount: net }], invoice.tax).total;
    const creditNoteId = deterministicUuid(`adjustment-credit:${stored.id}:${invoice.id}`);
    // Run again (a crash before the checkpoint): the credit note it issued then is taken as it was, so what is
    // left, hence the invoices credited after it and the report, come out the same as the first time.
    const issued = invoice.creditNotes?.find((n) => n.id === creditNoteId);
    const amount = issued ? issued.amount : Math.min(gross, invoice.total - (invoice.amountCredited ?? 0));
    if (amount <= 0) continue;
    if (!issued) await handleCommand(ctx.store, invoiceDecider, invoiceStream(invoice.id), { type: 'IssueCreditNote', data: { creditNoteId, amount, reason: line.description }, metadata: reactionMetadata(stored, `adjustment-credit:${invoice.id}`) });
    // Capped below the gross: only the net part it covers is credited; the rest goes on to the next invoice.
    left -= amount === gross ? net : Math.round((net * amount) / gross);
  }
  if (left > 0) {
    // Not dropped: the operator sees it (GET /v1/admin/uncredited-adjustments) and decides (a credit note
    // elsewhere, or nothing when the earlier credit notes covered it). Its id derives from the adjustment: once.
    const data = { sourceEventId: stored.id, meter: adjustment.meter, periodStart: adjustment.periodStart, periodEnd: adjustment.periodEnd, amount: left, currency, reason: line.description };
    await ctx.store.append(`usagecredit-${stored.organizationId}`, [{ id: deterministicUuid(`uncredited:${stored.id}`), type: 'invoice.adjustment.uncredited', data, occurredAt: ctx.now().toISOString(), organizationId: stored.organizationId, correlationId: stored.correlationId, causationId: stored.id }], { expectedVersion: 'any' });
    ctx.log.warn({ adjustment, left }, 'usage adjustment credits more than the period\'s invoices can: the rest is reported to the operator');
  }
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
    exactAmount(units, unitAmount, t.meter);
    const csv = `/v1/usage/report.csv?meter=${t.meter}&from=${closed.periodStart}&to=${closed.periodEnd}`;
    lines.push({
      description: `Overage ${t.meter}: ${t.total - t.included} over the ${t.included} included${pricing.contract ? ` (contract ${pricing.contract})` : ''}, ${units} × ${pricing.unitSize} (usage: ${csv})`,
      quantity: units,
      unitAmount,
      amount: units * unitAmount,
      periodStart: closed.periodStart,
      periodEnd: closed.periodEnd,
      meter: t.meter,
    });
  }
  return lines;
}

/** Invoice's copy of the negotiated contracts: the minimum annual commitment it trues up. */
export const invoiceContractsCollection = 'invoice_contracts';
export const invoiceContractsProjection = contractProjection('invoice.contracts.v1', invoiceContractsCollection);

/**
 * The true-up of a year short of its contract's minimum annual commitment, billed with the year's close (so once:
 * the close's invoice id derives from the close): what the commitment asks beyond what the year billed, net of
 * tax, which is every line of the organization's invoices whose service period starts in the year less what
 * credit notes, voids and refunds took back of them (revenue's copy of the invoices), plus this close's overage.
 * Null when no contract commits the year, or the year billed at least that.
 */
export async function commitmentTrueUp(ctx: ServiceContext, pricing: PricingCopies, organizationId: string, year: { periodStart: string; periodEnd: string; commitmentContractVersion?: number | null }, currency: string, overage: ChargeLine[], activatedAt: string): Promise<ChargeLine | null> {
  const timeZone = (await ctx.readStore.get<InvoiceOrganizationView>(invoiceCollections.organizations, organizationId))?.timeZone ?? 'UTC';
  // The version that priced the year at its sale or renewal, as the close records it: its commitment is the year's,
  // whatever plan the year ends on (what an upgrade billed counts toward it). Closes of years sold before it was
  // recorded: the version in effect at their sale (the first year), else their renewal, as billing chose it then.
  const recorded = year.commitmentContractVersion;
  if (recorded === null) return null;
  const pricedAt = Date.parse(activatedAt) > Date.parse(year.periodStart) ? activatedAt : year.periodStart;
  const contract = recorded !== undefined ? await contractVersionCaughtUp(ctx, pricing, organizationId, recorded, 10_000) : await pricing.contracts.at(organizationId, pricedAt);
  // A recorded version not in this copy yet: an error, retried (never a year trued up to nothing).
  if (recorded !== undefined && !contract) throw new Error(`contract version ${recorded} is not in invoice's copy yet`);
  if (!contract) return null;
  const committed = annualCommitment(contract, currency, year.periodStart, timeZone);
  if (committed === null) return null;
  // Every charge appended so far invoiced, and every invoice in revenue's copy: a charge not yet invoiced would be
  // billed by the true-up and again on its own invoice. A wait that runs out fails the close's reaction, retried.
  // In turn: the invoices the invoicing process issues while catching up are appended after the head it reached,
  // and revenue's copy must show those too.
  await subscriptionsAtHead(ctx, [INVOICING_PROCESS], 60_000);
  await subscriptionsAtHead(ctx, [revenueProjection.name], 60_000);
  const [start, end] = [Date.parse(year.periodStart), Date.parse(year.periodEnd)];
  const tax = await taxSettingsOf(ctx, organizationId);
  let billed = overage.reduce((sum, l) => sum + (tax.mode === 'exclusive' ? l.amount : l.amount - lineTax(l.amount, tax)), 0);
  for (const invoice of await ctx.readStore.find<RevenueInvoiceView>(revenueCollections.invoices, { organizationId, finalized: true })) {
    if (invoice.currency !== currency) continue;
    (invoice.lines ?? []).forEach((line, i) => {
      const t = Date.parse(line.periodStart);
      if (t < start || t >= end) return;
      billed += line.net - (invoice.reversals ?? []).reduce((sum, r) => sum + (r.lines[i] ?? 0), 0);
    });
  }
  const shortfall = committed - billed;
  if (shortfall <= 0) return null;
  // The line's amount is what it bills net of tax: with tax included in amounts, grossed up so its net is the shortfall.
  const amount = grossedUp(shortfall, tax);
  const money = (minor: number) => formatMoney(minor, currency, 'en-US');
  return {
    description: `Minimum annual commitment (contract ${contract.reference ?? `v${contract.version}`}): ${money(committed)} committed, ${money(billed)} billed for the year, net of tax; the shortfall`,
    quantity: 1,
    unitAmount: amount,
    amount,
    periodStart: year.periodStart,
    periodEnd: year.periodEnd,
  };
}

export function startOverageInvoicing(ctx: ServiceContext): Running {
  const pricing: PricingCopies = { plans: new PlanReader(ctx.readStore, invoicePlansCollection), plansCopy: invoicePlansProjection.name, contracts: new ContractReader(ctx.readStore, invoiceContractsCollection), contractsCopy: invoiceContractsProjection.name };
  const sub = ctx.subscriptions.subscribe('invoice.overage-process.v1', { types: ['usage.period.closed', 'usage.adjustment.recorded'] }, async (batch) => {
    for (const stored of batch) await invoiceOverage(ctx, stored, pricing);
  });
  return { stop: () => sub.stop() };
}

/**
 * A year's usage terms: its plan's at the version it was sold at, with the contract version that priced it over
 * them (usageTermsOfYear). A copy that has yet to show either throws: the event is retried, then parked for the
 * operator, never invoiced as free. A plan never in the catalogue and no contract: unpriced, as before versions.
 */
async function termsOfYear(ctx: ServiceContext, pricing: PricingCopies, year: Parameters<typeof usageTermsOfYear>[2]): Promise<YearUsageTerms | undefined> {
  const terms = await usageTermsOfYear(ctx, pricing, year, 10_000);
  if (terms === 'pending') throw new Error(`plan ${year.planId} (version ${year.planVersion ?? 'unrecorded'}${year.contractVersion ? `, contract version ${year.contractVersion}` : ''}) is not in invoice's copies yet`);
  if (terms !== 'unpriced') return terms;
  ctx.log.warn({ planId: year.planId, planVersion: year.planVersion ?? null }, 'a closed year\'s plan is not in the catalogue: its usage is not invoiced');
  return undefined;
}

async function invoiceOverage(ctx: ServiceContext, stored: StoredEvent, pricing: PricingCopies): Promise<void> {
  // The organization's subscription: its currency and the terms it is invoiced on.
  const [terms] = await ctx.readStore.find<BillingTermsView>(invoiceCollections.terms, { organizationId: stored.organizationId }, { orderBy: 'activatedAt', direction: 'desc', limit: 1 });
  if (!terms || terms.provider === 'stripe') return;
  const event = stored as StoredEvent & (PeriodClosed | AdjustmentRecorded);
  const year = { ...event.data, organizationId: stored.organizationId };
  const usageTerms = await termsOfYear(ctx, pricing, year);
  // The contract that set a meter's terms, named on its lines.
  const contract = usageTerms?.contract;
  const named = (meter: string) => (contract?.meters?.[meter as Meter] ? (contract.reference ?? `v${contract.version}`) : undefined);
  const price: OveragePrice = (_planId, meter) => {
    const terms = usageTerms?.overage[meter];
    const by = named(meter);
    return terms ? { ...terms, ...(by ? { contract: by } : {}) } : null;
  };
  const included: IncludedAmount = (_planId, meter) => usageTerms?.includedUsage[meter] ?? null;
  let lines: ChargeLine[];
  if (event.type === 'usage.period.closed') {
    lines = overageLines(event.data, terms.currency, price);
    const trueUp = await commitmentTrueUp(ctx, pricing, stored.organizationId, event.data, terms.currency, lines, terms.activatedAt);
    if (trueUp) lines.push(trueUp);
  }
  else {
    const adjusted = adjustmentLine(event.data, terms.currency, price, included);
    if (!adjusted) return;
    const { credit, ...line } = adjusted;
    if (credit) {
      // The invoices read model must show every invoice issued so far (this process issued the period's before).
      await subscriptionsAtHead(ctx, [invoicesProjection.name]);
      return creditOverage(ctx, stored, event.data, line, terms.currency);
    }
    lines = [line];
  }
  if (lines.length === 0) return;
  await issueInvoiceFor(ctx, stored, { idPrefix: 'overage', action: 'overage-invoice' }, { subscriptionId: terms.subscriptionId, currency: terms.currency, lines, terms });
}
