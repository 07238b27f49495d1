import { DEFAULT_RENEWAL_POLICY, PLATFORM_ORGANIZATION_ID, planVersionAt, renewalPricedAt, type PlanVersion, type RenewalPolicy } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection, type ReadStore } from '@curbmap/eventsourcing';
import { subscriptionsAtHead, type ServiceContext } from '../serviceModule.ts';

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
        versions: withVersion(current?.versions, version),
      }));
    },
  };
}

/** A list of versions with this one in its place (a redelivered version replaces itself), in version order. */
export const withVersion = <V extends { version: number }>(versions: readonly V[] | undefined, version: V): V[] => [...(versions ?? []).filter((v) => v.version !== version.version), version].sort((a, b) => a.version - b.version);

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

  async renewalPolicy(planId: string): Promise<RenewalPolicy> {
    return (await this.plan(planId))?.renewalPolicy ?? DEFAULT_RENEWAL_POLICY;
  }

  /**
   * The version a renewal on `renewsAt` moves to when the plan's policy is `current_price`: the one in effect at
   * its last renewal notice (renewalPricedAt). Null under `keep_price` (the renewal keeps its price).
   */
  async renewalVersion(planId: string, renewsAt: string, noticeDays?: readonly number[]): Promise<PlanVersion | null> {
    const plan = await this.plan(planId);
    if ((plan?.renewalPolicy ?? DEFAULT_RENEWAL_POLICY) !== 'current_price') return null;
    return planVersionAt(plan?.versions ?? [], renewalPricedAt(renewsAt, noticeDays)) ?? null;
  }

  /**
   * The terms a subscription year was sold at: its recorded version; for a year sold before versions were
   * recorded, the version in effect when it began, or the plan's first.
   */
  async ofYear(planId: string, yearStart: string, planVersion?: number): Promise<PlanVersion | undefined> {
    const versions = await this.versions(planId);
    if (planVersion !== undefined) return versions.find((v) => v.version === planVersion);
    return planVersionAt(versions, yearStart) ?? versions[0];
  }

  /** The plan's terms in effect at `at` (undefined: no such plan, or none of its versions in effect yet). */
  async at(planId: string, at: string): Promise<PlanVersion | undefined> {
    return planVersionAt(await this.versions(planId), at);
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

/**
 * The terms a subscription year was sold at, from a service's copy of the catalogue (`copy`: its projection).
 * Not there: the copy is let catch up with the log first (it lags on Kafka). Still not there: `pending` for a
 * version the year records, or while the copy holds no plan at all (billing has not seeded yet): those come;
 * else `unpriced`: the plan was never in the catalogue (sold before versions from a plans file that dropped it).
 * A copy that cannot catch up within `waitMs`: `pending`.
 */
export async function planOfYearCaughtUp(ctx: ServiceContext, plans: PlanReader, copy: string, year: { planId: string; periodStart: string; planVersion?: number }, waitMs: number): Promise<PlanVersion | 'pending' | 'unpriced'> {
  const found = await plans.ofYear(year.planId, year.periodStart, year.planVersion);
  if (found) return found;
  if (!(await subscriptionsAtHead(ctx, [copy], waitMs).then(() => true, () => false))) return 'pending';
  const late = await plans.ofYear(year.planId, year.periodStart, year.planVersion);
  if (late) return late;
  return year.planVersion !== undefined || (await plans.all()).length === 0 ? 'pending' : 'unpriced';
}
