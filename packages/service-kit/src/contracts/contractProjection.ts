import { contractAt, meterTermsOfYear, type ContractVersion } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection, type ReadStore } from '@curbmap/eventsourcing';
import { planCatalogProjection, planOfYearCaughtUp, withVersion, type PlanReader } from '../plans/planCatalogProjection.ts';
import { subscriptionsAtHead, type ServiceContext } from '../serviceModule.ts';

/** An organization's contract: every version the operator set, in order (id: the organization's). */
export interface ContractView extends Document {
  versions: ContractVersion[];
}

/** Each service that prices a year (billing, invoice) keeps its own copy of the contracts, from billing.contract.set. */
export function contractProjection(name: string, collection: string): Projection {
  return {
    name,
    filter: { types: ['billing.contract.set'] },
    collections: [collection],
    async apply(stored, tx) {
      const version = stored.data as ContractVersion;
      await updateOnce<ContractView>(tx, collection, stored.organizationId, stored, (current) => ({
        id: stored.organizationId,
        organizationId: stored.organizationId,
        versions: withVersion(current?.versions, version),
      }));
    },
  };
}

/**
 * A service's copies of the catalogue and of the contracts as one projection: one subscription (on Kafka, one
 * consumer group per process) where two would each poll, fetch and heartbeat.
 */
export function pricingCopyProjection(name: string, plansCollection: string, contractsCollection: string): Projection {
  const plans = planCatalogProjection(name, plansCollection);
  const contracts = contractProjection(name, contractsCollection);
  return {
    name,
    filter: { types: [...(plans.filter.types ?? []), ...(contracts.filter.types ?? [])] },
    collections: [plansCollection, contractsCollection],
    apply: (stored, tx) => (stored.type === 'billing.contract.set' ? contracts.apply(stored, tx) : plans.apply(stored, tx)),
  };
}

/** Reads a service's copy: an organization's contract versions, or the one in effect at an instant. */
export class ContractReader {
  private readonly readStore: ReadStore;
  private readonly collection: string;

  constructor(readStore: ReadStore, collection: string) {
    this.readStore = readStore;
    this.collection = collection;
  }

  async versions(organizationId: string): Promise<ContractVersion[]> {
    return (await this.readStore.get<ContractView>(this.collection, organizationId))?.versions ?? [];
  }

  async at(organizationId: string, instant: string): Promise<ContractVersion | undefined> {
    return contractAt(await this.versions(organizationId), instant);
  }

  async version(organizationId: string, version: number): Promise<ContractVersion | undefined> {
    return (await this.versions(organizationId)).find((v) => v.version === version);
  }
}

/** A service's copies of the catalogue and of the contracts, by the names of their projections. */
export interface PricingCopies {
  plans: PlanReader;
  plansCopy: string;
  contracts: ContractReader;
  contractsCopy: string;
}

/** A year's usage terms, and the contract version whose terms are in them (if one priced the year). */
export type YearUsageTerms = ReturnType<typeof meterTermsOfYear> & { contract?: ContractVersion };

/**
 * A contract version from a service's copy; not there yet, the copy is let catch up with the log (it lags on
 * Kafka) and looked at again. Undefined: still not there.
 */
export async function contractVersionCaughtUp(ctx: ServiceContext, copies: Pick<PricingCopies, 'contracts' | 'contractsCopy'>, organizationId: string, version: number, waitMs: number): Promise<ContractVersion | undefined> {
  const found = await copies.contracts.version(organizationId, version);
  if (found) return found;
  await subscriptionsAtHead(ctx, [copies.contractsCopy], waitMs).catch(() => undefined);
  return copies.contracts.version(organizationId, version);
}

/**
 * A subscription year's included usage and overage prices: its plan's, at the version it was sold at
 * (planOfYearCaughtUp), with those of the contract version that priced it (its recorded `contractVersion`) over
 * them. A copy that has yet to show either: `pending` (the caller retries later, never prices the year as free);
 * a plan never in the catalogue and no contract: `unpriced`.
 */
export async function usageTermsOfYear(ctx: ServiceContext, copies: PricingCopies, year: { organizationId: string; planId: string; periodStart: string; planVersion?: number; contractVersion?: number }, waitMs: number): Promise<YearUsageTerms | 'pending' | 'unpriced'> {
  const plan = await planOfYearCaughtUp(ctx, copies.plans, copies.plansCopy, year, waitMs);
  if (plan === 'pending') return 'pending';
  const contract = year.contractVersion !== undefined ? await contractVersionCaughtUp(ctx, copies, year.organizationId, year.contractVersion, waitMs) : undefined;
  if (year.contractVersion !== undefined && !contract) return 'pending';
  if (plan === 'unpriced' && !contract) return 'unpriced';
  return { ...meterTermsOfYear(plan === 'unpriced' ? undefined : plan, contract, year.planId), ...(contract ? { contract } : {}) };
}
