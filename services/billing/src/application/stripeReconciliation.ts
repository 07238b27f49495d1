import type { ServiceContext } from '@curbmap/service-kit';
import { stripeEventProblem, type StripeEventLike } from '../adapters/stripe/stripeObjects.ts';
import { billingCollections as C } from '../projections/billingProjections.ts';
import type { StripeEventView } from '../projections/stripeProjection.ts';
import { ingestStripeEvent } from './stripeEventIngest.ts';

/** Lists Stripe events created at or after a time (seconds), oldest last, as Stripe pages them. */
export type ListStripeEvents = (createdGte: number) => AsyncIterable<StripeEventLike>;

/** Stripe keeps events for 30 days: that is as far back as missed deliveries can be recovered. */
const RETENTION_SECONDS = 30 * 86_400;
/** Events a few minutes older than the newest seen may still be missing (deliveries race). */
const OVERLAP_SECONDS = 300;

/**
 * Recovers missed webhook deliveries: lists Stripe's events since the newest one stored (minus an overlap)
 * and stores those not stored yet. Stored events are applied by the usual sync process.
 */
export async function reconcileStripeEvents(ctx: ServiceContext, list: ListStripeEvents): Promise<{ since: number; seen: number; stored: number }> {
  const [newest] = await ctx.readStore.find<StripeEventView>(C.stripeEvents, {}, { orderBy: 'created', direction: 'desc', limit: 1 });
  const now = Math.floor(ctx.now().getTime() / 1000);
  const since = Math.max(newest ? newest.created - OVERLAP_SECONDS : 0, now - RETENTION_SECONDS);
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
  ctx.log.info({ since, seen, stored }, 'stripe reconciliation');
  return { since, seen, stored };
}
