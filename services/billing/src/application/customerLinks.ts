import { deterministicUuid } from '@curbmap/eventsourcing';
import type { ServiceContext } from '@curbmap/service-kit';
import type { CustomerLinks } from '../adapters/stripe/stripePaymentProvider.ts';
import { billingCollections as C, type StripeCustomerView } from '../projections/billingProjections.ts';

export const customerStream = (organizationId: string) => `customer-${organizationId}`;

/** The organization ↔ Stripe customer link, kept as a billing.customer.linked event. Attached at start. */
export class EventSourcedCustomerLinks implements CustomerLinks {
  private ctx: ServiceContext | null = null;

  attach(ctx: ServiceContext): void {
    this.ctx = ctx;
  }

  private get context(): ServiceContext {
    if (!this.ctx) throw new Error('customer links used before the billing service started');
    return this.ctx;
  }

  async find(organizationId: string): Promise<string | null> {
    const [link] = await this.context.readStore.find<StripeCustomerView>(C.stripeCustomers, { organizationId, deleted: false }, { limit: 1 });
    return link?.id ?? null;
  }

  async link(organizationId: string, customerId: string): Promise<void> {
    const ctx = this.context;
    const streamId = customerStream(organizationId);
    const type = 'billing.customer.linked';
    const { position, nextVersion } = await ctx.store.append(
      streamId,
      [{ id: deterministicUuid(`customer-link:${organizationId}:${customerId}`), type, data: { provider: 'stripe', customerId }, occurredAt: ctx.now().toISOString(), organizationId }],
      { expectedVersion: 'any' },
    );
    await ctx.waitForReadModels({ streamId, version: nextVersion, types: [type], position });
  }
}
