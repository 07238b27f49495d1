import { ContractReader, contractProjection, planCatalogProjection, PlanReader, usageTermsOfYear, type PricingCopies, type ServiceContext } from '@curbmap/service-kit';
import type { IncludedUsage } from '../application/usageQuotas.ts';

/** Usage's copy of the catalogue (billing's plan events): what each plan includes, version by version. */
const usagePlans = 'usage_plans';
export const usagePlansProjection = planCatalogProjection('usage.plans.v1', usagePlans);
/** Usage's copy of the negotiated contracts: a contract's included usage replaces its plan's. */
const usageContracts = 'usage_contracts';
export const usageContractsProjection = contractProjection('usage.contracts.v1', usageContracts);

export const usagePlansOf = (ctx: ServiceContext) => new PlanReader(ctx.readStore, usagePlans);
/** Usage's copies of the catalogue and the contracts, as usageTermsOfYear reads them. */
export const usagePricing = (ctx: ServiceContext): PricingCopies => ({ plans: usagePlansOf(ctx), plansCopy: usagePlansProjection.name, contracts: new ContractReader(ctx.readStore, usageContracts), contractsCopy: usageContractsProjection.name });

/** What a subscription year includes, from usage's copies (null: not there yet, or never priced). */
export function includedUsageOf(ctx: ServiceContext): IncludedUsage {
  const pricing = usagePricing(ctx);
  return async (year) => {
    const terms = await usageTermsOfYear(ctx, pricing, year, 0);
    return typeof terms === 'string' ? null : terms.includedUsage;
  };
}
