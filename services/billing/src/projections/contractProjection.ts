import { ContractReader, contractProjection, type ServiceContext } from '@curbmap/service-kit';

/** Billing's copy of the contracts: the seat prices it sells and renews at. */
export const billingContractsCollection = 'billing_contracts';
export const billingContractsProjection = contractProjection('billing.contracts.v1', billingContractsCollection);
export const billingContracts = (ctx: ServiceContext) => new ContractReader(ctx.readStore, billingContractsCollection);
