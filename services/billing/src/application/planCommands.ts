import { PLATFORM_ORGANIZATION_ID, planStream, type Plan, type PlanCatalog, type PlanVersion, type RenewalPolicy } from '@curbmap/contracts';
import type { CommandMetadata, StreamWrite } from '@curbmap/eventsourcing';
import { NotYetVisibleError, runCommand, type ServiceContext } from '@curbmap/service-kit';
import { planDecider, sameTerms, termsOf, type PlanTerms } from '../domain/plan/planDecider.ts';
import { billingPlans } from '../projections/planProjection.ts';

/**
 * Version 1 of each plan of the built-in catalogue (or CURBMAP_PLANS_FILE) not yet in the log, once: after that
 * the operator manages prices through the admin API, and a file that says otherwise is reported, not applied.
 * Each seed's command id derives from the plan, so two processes starting at once write it once.
 */
export async function seedPlanCatalog(ctx: ServiceContext, seed: PlanCatalog): Promise<void> {
  const now = ctx.now().toISOString();
  const writes: StreamWrite[] = [];
  for (const plan of seed.plans) {
    const metadata: CommandMetadata = { commandId: `seed-plan:${plan.id}`, now, organizationId: PLATFORM_ORGANIZATION_ID };
    const result = await runCommand(ctx, planDecider, planStream(plan.id), { type: 'SeedPlan', data: { plan }, metadata }, { consistent: false });
    if (result.write && !result.replayed) writes.push(result.write);
    // Seeded before (this start replays that seed): the log decides. A file edited since (it no longer says
    // what version 1 says) is reported: the edit changes no price.
    const first = result.state.versions[0];
    const { id: _id, ...seeded } = plan;
    if (first && (result.replayed || result.events.length === 0) && !sameTerms(termsOf(first), seeded)) {
      ctx.log.warn({ planId: plan.id, versions: result.state.versions.length }, 'the plans file says otherwise than the plan\'s version 1: it seeds a plan once; prices change with the admin API (POST /v1/admin/plans/{id}/versions)');
    }
  }
  // Shown before the service sells (embedded: at once). On Kafka the copies may take longer: /readyz waits for
  // them, and a sale before then is refused as an unknown plan, never made at a guessed price.
  for (const write of writes) {
    try {
      await ctx.waitForReadModels(write);
    } catch (err) {
      if (!(err instanceof NotYetVisibleError)) throw err;
      ctx.log.warn({ lagging: err.message }, 'the seeded plans are not yet in every read model; /readyz says when they are');
    }
  }
}

export async function createPlan(ctx: ServiceContext, meta: CommandMetadata, plan: Plan, effectiveFrom: string): Promise<PlanVersion[]> {
  await runCommand(ctx, planDecider, planStream(plan.id), { type: 'CreatePlan', data: { plan, effectiveFrom }, metadata: meta });
  return billingPlans(ctx).versions(plan.id);
}

export async function addPriceVersion(ctx: ServiceContext, meta: CommandMetadata, planId: string, terms: PlanTerms, effectiveFrom: string): Promise<PlanVersion[]> {
  await runCommand(ctx, planDecider, planStream(planId), { type: 'AddPriceVersion', data: { planId, terms, effectiveFrom }, metadata: meta });
  return billingPlans(ctx).versions(planId);
}

export async function setRenewalPolicy(ctx: ServiceContext, meta: CommandMetadata, planId: string, renewalPolicy: RenewalPolicy): Promise<RenewalPolicy> {
  await runCommand(ctx, planDecider, planStream(planId), { type: 'SetRenewalPolicy', data: { planId, renewalPolicy }, metadata: meta });
  return billingPlans(ctx).renewalPolicy(planId);
}
