import { randomUUID } from 'node:crypto';
import type { NewEvent } from '@curbmap/contracts';
import { ConcurrencyError } from '@curbmap/eventsourcing';
import type { ServiceContext } from '@curbmap/service-kit';
import { NO_ORGANIZATION, organizationFromMetadata, str, type StripeEventLike } from '../adapters/stripe/stripeObjects.ts';
import { billingCollections, type StripeCustomerView } from '../projections/billingProjections.ts';

export const stripeEventStream = (stripeEventId: string) => `stripeevent-${stripeEventId}`;

/** The organization a Stripe object belongs to: our metadata, else the customer we linked. */
export async function organizationOf(ctx: ServiceContext, object: StripeEventLike['data']['object']): Promise<string | null> {
  const fromMetadata = organizationFromMetadata(object);
  if (fromMetadata) return fromMetadata;
  const customerId = object.object === 'customer' ? str(object.id) : str(object.customer);
  if (!customerId) return null;
  return (await ctx.readStore.get<StripeCustomerView>(billingCollections.stripeCustomers, customerId))?.organizationId ?? null;
}

/**
 * Stores a verified Stripe event exactly once, keyed by its id (one stream per event, created with
 * `no_stream`): a redelivery meets the existing stream and is reported as a duplicate. Applying it happens
 * after the answer, in the Stripe sync process.
 */
export async function ingestStripeEvent(ctx: ServiceContext, event: StripeEventLike, source: 'webhook' | 'reconciliation'): Promise<'stored' | 'duplicate'> {
  const object = event.data.object;
  const organizationId = (await organizationOf(ctx, object)) ?? NO_ORGANIZATION;
  const stored: NewEvent = {
    id: randomUUID(),
    type: 'billing.stripe_event.received',
    occurredAt: new Date(event.created * 1000).toISOString(),
    organizationId,
    correlationId: event.id,
    data: { stripeEventId: event.id, stripeType: event.type, created: event.created, livemode: event.livemode, objectId: str(object.id), payload: event as unknown as Record<string, unknown>, source },
  };
  try {
    await ctx.store.append(stripeEventStream(event.id), [stored], { expectedVersion: 'no_stream' });
    return 'stored';
  } catch (err) {
    if (err instanceof ConcurrencyError) return 'duplicate';
    throw err;
  }
}
