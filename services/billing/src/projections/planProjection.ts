import { planCatalogProjection, PlanReader, type ServiceContext } from '@curbmap/service-kit';

/** Billing's copy of the catalogue: the plans it sells, at the version in effect when it sells or charges. */
export const billingPlansCollection = 'billing_plans';
export const billingPlansProjection = planCatalogProjection('billing.plans.v1', billingPlansCollection);
export const billingPlans = (ctx: ServiceContext) => new PlanReader(ctx.readStore, billingPlansCollection);
