import { ContractReader, PlanReader, pricingCopyProjection, usageTermsOfYear, type PricingCopies, type ServiceContext } from '@curbmap/service-kit';
import type { IncludedUsage } from '../application/usageQuotas.ts';

/**
 * Usage's copies of the catalogue (what each plan includes, version by version) and of the negotiated contracts (a
 * contract's included usage replaces its plan's), in one projection.
 */
const usagePlans = 'usage_plans';
const usageContracts = 'usage_contracts';
export const usagePricingProjection = pricingCopyProjection('usage.pricing.v1', usagePlans, usageContracts);

export const usagePlansOf = (ctx: ServiceContext) => new PlanReader(ctx.readStore, usagePlans);
/** Usage's copies of the catalogue and the contracts, as usageTermsOfYear reads them. */
export const usagePricing = (ctx: ServiceContext): PricingCopies => ({ plans: usagePlansOf(ctx), plansCopy: usagePricingProjection.name, contracts: new ContractReader(ctx.readStore, usageContracts), contractsCopy: usagePricingProjection.name });

/** What a subscription year includes, from usage's copies (null: not there yet, or never priced). */
export function includedUsageOf(ctx: ServiceContext): IncludedUsage {
  const pricing = usagePricing(ctx);
  return async (year) => {
    const terms = await usageTermsOfYear(ctx, pricing, year, 0);
    return typeof terms === 'string' ? null : terms.includedUsage;
  };
}
