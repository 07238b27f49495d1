import { planCatalogProjection, PlanReader, type ServiceContext } from '@curbmap/service-kit';
import type { IncludedUsage } from '../application/usageQuotas.ts';

/** Usage's copy of the catalogue (billing's plan events): what each plan includes, version by version. */
const usagePlans = 'usage_plans';
export const usagePlansProjection = planCatalogProjection('usage.plans.v1', usagePlans);

export const usagePlansOf = (ctx: ServiceContext) => new PlanReader(ctx.readStore, usagePlans);

/** What a subscription year's plan includes, from usage's copy. */
export function includedUsageOf(ctx: ServiceContext): IncludedUsage {
  const plans = usagePlansOf(ctx);
  return async (planId, yearStart, planVersion) => (await plans.ofYear(planId, yearStart, planVersion))?.includedUsage ?? null;
}
