import { DEFAULT_RENEWAL_POLICY, PLATFORM_ORGANIZATION_ID, planVersionAt, type PlanVersion, type RenewalPolicy } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection, type ReadStore } from '@curbmap/eventsourcing';

/** A plan with every price version the operator gave it, in version order. */
export interface PlanView extends Document {
  versions: PlanVersion[];
  /** Absent: DEFAULT_RENEWAL_POLICY. */
  renewalPolicy?: RenewalPolicy;
}

/**
 * The catalogue as one service reads it: each service that prices (billing, usage, invoice) keeps its own copy,
 * in its own collection, from `billing.plan.versioned`, so none imports another's code or reads another's store.
 */
export function planCatalogProjection(name: string, collection: string): Projection {
  return {
    name,
    filter: { types: ['billing.plan.versioned', 'billing.plan.renewal_policy_set'] },
    collections: [collection],
    async apply(stored, tx) {
      if (stored.type === 'billing.plan.renewal_policy_set') {
        const { id, renewalPolicy } = stored.data as { id: string; renewalPolicy: RenewalPolicy };
        await updateOnce<PlanView>(tx, collection, id, stored, (current) => ({ id, organizationId: PLATFORM_ORGANIZATION_ID, versions: current?.versions ?? [], renewalPolicy }));
        return;
      }
      const version = stored.data as PlanVersion;
      await updateOnce<PlanView>(tx, collection, version.id, stored, (current) => ({
        ...current,
        id: version.id,
        organizationId: PLATFORM_ORGANIZATION_ID,
        versions: [...(current?.versions ?? []).filter((v) => v.version !== version.version), version].sort((a, b) => a.version - b.version),
      }));
    },
  };
}

/** Reads a service's copy of the catalogue: a plan's terms at an instant, or every plan's. */
export class PlanReader {
  private readonly readStore: ReadStore;
  private readonly collection: string;

  constructor(readStore: ReadStore, collection: string) {
    this.readStore = readStore;
    this.collection = collection;
  }

  async versions(planId: string): Promise<PlanVersion[]> {
    return (await this.plan(planId))?.versions ?? [];
  }

  async plan(planId: string): Promise<PlanView | null> {
    return this.readStore.get<PlanView>(this.collection, planId);
  }

  /** A version by number (the one a subscription year was sold at). */
  async version(planId: string, version: number): Promise<PlanVersion | undefined> {
    return (await this.versions(planId)).find((v) => v.version === version);
  }

  async renewalPolicy(planId: string): Promise<RenewalPolicy> {
    return (await this.plan(planId))?.renewalPolicy ?? DEFAULT_RENEWAL_POLICY;
  }

  /**
   * The terms a subscription year was sold at: its recorded version; for a year sold before versions were
   * recorded, the version in effect when it began, or the plan's first.
   */
  async ofYear(planId: string, yearStart: string, planVersion?: number): Promise<PlanVersion | undefined> {
    if (planVersion !== undefined) return this.version(planId, planVersion);
    return this.forYear(planId, yearStart);
  }

  /** The plan's terms in effect at `at` (undefined: no such plan, or none of its versions in effect yet). */
  async at(planId: string, at: string): Promise<PlanVersion | undefined> {
    return planVersionAt(await this.versions(planId), at);
  }

  private async forYear(planId: string, yearStart: string): Promise<PlanVersion | undefined> {
    const versions = await this.versions(planId);
    return planVersionAt(versions, yearStart) ?? versions[0];
  }

  /** Every plan with all its versions, by id. */
  async all(): Promise<PlanView[]> {
    const plans = await this.readStore.find<PlanView>(this.collection, { organizationId: PLATFORM_ORGANIZATION_ID });
    return plans.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Each plan's terms in effect at `at`, lower tiers first. */
  async inEffect(at: string): Promise<PlanVersion[]> {
    const current = (await this.all()).map((p) => planVersionAt(p.versions, at)).filter((v): v is PlanVersion => v !== undefined);
    return current.sort((a, b) => a.tier - b.tier || a.id.localeCompare(b.id));
  }
}
