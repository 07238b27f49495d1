import type { Running, ServiceContext } from '@curbmap/service-kit';
import { stripeEventProblem, type StripeEventLike } from '../adapters/stripe/stripeObjects.ts';
import { ingestStripeEvent } from './stripeEventIngest.ts';

/** Lists Stripe events created at or after a time (seconds), oldest last, as Stripe pages them. */
export type ListStripeEvents = (createdGte: number) => AsyncIterable<StripeEventLike>;

/** Stripe keeps events for 30 days: that is as far back as missed deliveries can be recovered. */
const RETENTION_SECONDS = 30 * 86_400;
/** Events created shortly before the last pass may not have been listed by it yet (Stripe's clock, our clock). */
const OVERLAP_SECONDS = 300;
/** Its own checkpoint: the time up to which every Stripe event has been listed. */
export const RECONCILIATION_CHECKPOINT = 'billing.stripe-reconciliation';

/** The pass in progress per platform: passes never overlap. */
const passes = new WeakMap<ServiceContext, Promise<unknown>>();

/**
 * Recovers missed webhook deliveries: lists Stripe's events since the reconciliation's own checkpoint (minus
 * an overlap; never more than Stripe's 30 days) and stores those not stored yet; the sync process applies them
 * as usual. The checkpoint moves only after a complete pass, so an interrupted pass is repeated, and storing is
 * once per Stripe event id. Passes never overlap.
 */
export function reconcileStripeEvents(ctx: ServiceContext, list: ListStripeEvents): Promise<{ since: number; until: number; seen: number; stored: number }> {
  const pass = (passes.get(ctx) ?? Promise.resolve()).then(async () => {
    const now = Math.floor(ctx.now().getTime() / 1000);
    const checkpoint = await ctx.readStore.loadCheckpoint(RECONCILIATION_CHECKPOINT);
    const since = Math.max(checkpoint === null ? 0 : Number(checkpoint) - OVERLAP_SECONDS, now - RETENTION_SECONDS);
    let seen = 0;
    let stored = 0;
    for await (const event of list(since)) {
      seen += 1;
      const problem = stripeEventProblem(event);
      if (problem) {
        ctx.log.warn({ stripeEventId: (event as { id?: unknown }).id, problem }, 'stripe reconciliation skipped a malformed event');
        continue;
      }
      if ((await ingestStripeEvent(ctx, event, 'reconciliation')) === 'stored') stored += 1;
    }
    await ctx.readStore.transaction((tx) => tx.saveCheckpoint(RECONCILIATION_CHECKPOINT, String(now)));
    ctx.log.info({ since, until: now, seen, stored }, 'stripe reconciliation');
    return { since, until: now, seen, stored };
  });
  passes.set(ctx, pass.catch(() => undefined));
  return pass;
}

/** Reconciles on a schedule (hourly by default) while Stripe is configured. */
export function startStripeReconciliation(ctx: ServiceContext, list: ListStripeEvents, intervalMs: number): Running {
  const timer = setInterval(() => void reconcileStripeEvents(ctx, list).catch((err) => ctx.log.error({ err }, 'stripe reconciliation failed')), intervalMs);
  timer.unref();
  return { stop: async () => void (clearInterval(timer), await passes.get(ctx)) };
}
