import { DomainError, type StreamWrite } from '@curbmap/eventsourcing';
import { EventValidationError } from '@curbmap/contracts';
import { periodicPass, type ServiceContext } from '@curbmap/service-kit';
import { billingCollections as C, type ReceivableView, type SubscriptionView } from '../projections/billingProjections.ts';
import { runSubscriptionCommand, withContract } from './subscriptionCommands.ts';
import { billingPlans } from '../projections/planProjection.ts';
import type { PlanPrice, Subscription, SubscriptionState } from '../domain/subscription/subscriptionDecider.ts';

/** Past due this many days, a subscription becomes unpaid. */
export const UNPAID_AFTER_DAYS = 30;

export interface BillingScheduler {
  /** One pass: renew ended periods, flag overdue invoices. Safe to run twice: command ids are deterministic. */
  tick(now?: Date): Promise<{ renewed: number; pastDue: number; unpaid: number }>;
  stop(): Promise<void>;
}

/**
 * The renewing plan's price for the new year: under `current_price`, the version in effect at the last renewal
 * notice before it (PlanReader.renewalVersion; one made after it waits for the next renewal); under `keep_price`
 * (the default), the price the subscription has, with the version it was sold at (for one sold before versions
 * were recorded, the version in effect when its year began), so usage prices the new year at the version its
 * seats are charged at.
 */
export async function renewalPrice(ctx: ServiceContext, s: Subscription, noticeDays?: readonly number[]): Promise<Omit<PlanPrice, 'tier'> | null> {
  const renewing = s.pending?.plan ?? { planId: s.planId, name: s.planName, unitAmount: s.unitAmount, ...(s.planVersion ? { version: s.planVersion } : {}) };
  const plans = billingPlans(ctx);
  const current = await plans.renewalVersion(renewing.planId, s.period.end, noticeDays);
  const unitAmount = current?.seatPrices[s.currency];
  if (current && unitAmount !== undefined) return { planId: current.id, name: current.name, unitAmount, version: current.version };
  if (renewing.version) return null; // the decider keeps it as recorded
  const sold = await plans.ofYear(renewing.planId, s.period.start);
  return sold ? { ...renewing, version: sold.version } : null;
}

/**
 * A manually collected renewal under a contract: the contract's seat price for the year it starts, over the plan's
 * own price that year (the version the renewal records). A subscription a contract priced last year whose contract
 * no longer covers the new year goes back to that plan price.
 */
async function contractRenewalPrice(ctx: ServiceContext, organizationId: string, s: Subscription, price: Omit<PlanPrice, 'tier'> | null): Promise<Omit<PlanPrice, 'tier'> | null> {
  const renewing = s.pending?.plan ?? { planId: s.planId, name: s.planName, unitAmount: s.unitAmount, ...(s.planVersion ? { version: s.planVersion } : {}) };
  const base = price ?? renewing;
  const plan = await billingPlans(ctx).ofYear(base.planId, s.period.end, base.version);
  const planUnitAmount = plan?.seatPrices[s.currency];
  // No plan price in the currency: nothing for a discount to apply to, and nothing to go back to.
  if (!plan || planUnitAmount === undefined) return price;
  // Priced at the renewal, the year's start: a version set later that day governs the next years, not this one.
  const { price: contracted, seatPriced } = await withContract(ctx, organizationId, base, planUnitAmount, s.currency, s.period.end, s.timeZone, s.period.end);
  if (seatPriced) return contracted;
  // The version that governs the year without pricing its seats (usage terms only) is recorded all the same.
  const governed = contracted.contractVersion ? { contractVersion: contracted.contractVersion } : {};
  // A year a contract's seat price priced (its name says so) whose contract no longer prices the next: back to the
  // plan's price and name.
  if (renewing.name.includes(', contract ')) return { planId: base.planId, name: plan.name, unitAmount: planUnitAmount, ...(base.version ? { version: base.version } : {}), ...governed };
  return contracted.contractVersion ? contracted : price;
}

/**
 * Time-driven billing: renewals at period end (the period boundaries are local midnights in the organization's
 * time zone, computed by the subscription), past_due when a sent invoice is overdue, unpaid after 30 days.
 */
export function startBillingScheduler(ctx: ServiceContext, intervalMs: number, renewalNoticeDays?: readonly number[]): BillingScheduler {
  const log = ctx.log.child({ component: 'billing-scheduler' });

  async function pass(now: Date) {
    const at = now.toISOString();
    let renewed = 0;
    let pastDue = 0;
    let unpaid = 0;
    // Waited for at the end, so an operator's pass answers with its changes visible.
    const writes: StreamWrite[] = [];
    const track = <R extends { write: StreamWrite | null }>(result: R): R => {
      if (result.write) writes.push(result.write);
      return result;
    };
    for (const status of ['active', 'past_due', 'unpaid'] as const) {
      for (const sub of await ctx.readStore.find<SubscriptionView>(C.subscriptions, { status, periodEnd: { $lte: at } })) {
        try {
          // Catch up period by period (a platform down for two years renews twice).
          let periodEnd = sub.periodEnd;
          let state: SubscriptionState = sub.state;
          while (Date.parse(periodEnd) <= now.getTime()) {
            let price: Omit<PlanPrice, 'tier'> | null = state.status === 'none' ? null : await renewalPrice(ctx, state, renewalNoticeDays);
            if (state.status !== 'none' && state.provider === 'manual') price = await contractRenewalPrice(ctx, sub.organizationId, state, price);
            const result: Awaited<ReturnType<typeof runSubscriptionCommand>> = track(await runSubscriptionCommand(ctx, { type: 'RenewSubscription', data: price ? { price } : {}, metadata: { commandId: `renew:${sub.state.subscriptionId}:${periodEnd}`, now: at, organizationId: sub.organizationId } }, { consistent: false }));
            if (result.events.length === 0) break;
            if (!result.replayed) renewed += 1;
            const next = result.state.status === 'none' || result.state.status === 'canceled' ? null : result.state.period.end;
            if (!next) break;
            state = result.state;
            periodEnd = next;
          }
        } catch (err) {
          // One subscription that cannot renew (an amount its event refuses, say) does not hold up the others;
          // a store out of reach fails the pass as before.
          if (!(err instanceof EventValidationError || err instanceof DomainError)) throw err;
          log.error({ err, organizationId: sub.organizationId }, 'renewal failed; retried on the next pass');
        }
      }
    }
    for (const status of ['open', 'partially_paid'] as const) {
      for (const r of await ctx.readStore.find<ReceivableView>(C.receivables, { status, collectionMethod: 'send_invoice', dueAt: { $lte: at } })) {
        if (!r.dueAt) continue;
        const base = { now: at, organizationId: r.organizationId };
        // One round of dunning per opening: an invoice a refund reopened after it was paid is overdue again
        // (a command id fixed per invoice would replay the first round's answer and change nothing).
        const round = r.reopened ? `:reopened-${r.reopened}` : '';
        const marked = track(await runSubscriptionCommand(ctx, { type: 'MarkPastDue', data: { invoiceId: r.id, dueAt: r.dueAt }, metadata: { ...base, commandId: `past-due:${r.id}${round}` } }, { consistent: false }));
        if (!marked.replayed) pastDue += marked.events.length;
        // A reopened invoice is past due at once (its due date passed), but unpaid only 30 days after it reopened.
        const graceFrom = Math.max(Date.parse(r.dueAt), r.reopenedAt ? Date.parse(r.reopenedAt) : 0);
        if (now.getTime() - graceFrom >= UNPAID_AFTER_DAYS * 86_400_000) {
          const u = track(await runSubscriptionCommand(ctx, { type: 'MarkUnpaid', data: { invoiceId: r.id }, metadata: { ...base, commandId: `unpaid:${r.id}${round}` } }, { consistent: false }));
          if (!u.replayed) unpaid += u.events.length;
        }
      }
    }
    for (const write of writes) await ctx.waitForReadModels(write).catch((err) => log.warn({ err }, 'scheduler pass not yet visible in every read model'));
    if (renewed + pastDue + unpaid > 0) log.info({ renewed, pastDue, unpaid }, 'billing scheduler pass');
    return { renewed, pastDue, unpaid };
  }

  return periodicPass(pass, { intervalMs, now: () => ctx.now(), onError: (err) => log.error({ err }, 'billing scheduler pass failed') });
}
