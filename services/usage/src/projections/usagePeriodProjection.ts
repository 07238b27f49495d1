import type { BillingEvent } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection } from '@curbmap/eventsourcing';

/** The organization's current subscription year and plan, as usage measures quotas against them. */
export interface UsagePeriodView extends Document {
  planId: string;
  periodStart: string;
  periodEnd: string;
  active: boolean;
}

export const usagePeriods = 'usage_periods';

/** Learned from billing's events (usage never reads billing's tables). */
export const usagePeriodProjection: Projection = {
  name: 'usage.periods.v1',
  filter: { categories: ['subscription'], types: ['billing.subscription.activated', 'billing.subscription.renewed', 'billing.subscription.plan_changed', 'billing.subscription.canceled'] },
  collections: [usagePeriods],
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as BillingEvent;
    const id = stored.organizationId;
    await updateOnce<UsagePeriodView>(tx, usagePeriods, id, stored, (current) => {
      switch (event.type) {
        case 'billing.subscription.activated':
        case 'billing.subscription.renewed':
          return { id, organizationId: id, planId: event.data.planId, periodStart: event.data.periodStart, periodEnd: event.data.periodEnd, active: true };
        case 'billing.subscription.plan_changed':
          return current && event.data.effective === 'now' ? { ...current, planId: event.data.toPlanId } : null;
        case 'billing.subscription.canceled':
          return current ? { ...current, active: false } : null;
        default:
          return null;
      }
    });
  },
};
