import type { FastifyInstance } from 'fastify';
import { DEFAULT_RENEWAL_POLICY, PLATFORM_ORGANIZATION_ID, planIdSchema, planTermsProperties, planTermsRequired, planVersionedSchema, renewalPolicies, type Plan, type RenewalPolicy } from '@curbmap/contracts';
import { commandMetadata, inputSchemas, notFound, problemResponses, toUtc, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { addPriceVersion, createPlan, setRenewalPolicy } from '../application/planCommands.ts';
import type { PlanTerms } from '../domain/plan/planDecider.ts';
import { billingPlans } from '../projections/planProjection.ts';

const tags = ['operations: plans'];

/**
 * The plan terms a request gives: as the event's schema, but a currency code is checked for its shape only here
 * (three upper-case letters); whether it is an ISO 4217 currency the decider answers (422), as for other terms.
 */
function shapeOnlyCurrencies<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(shapeOnlyCurrencies) as T;
  if (!schema || typeof schema !== 'object') return schema;
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'propertyNames' ? { pattern: '^[A-Z]{3}$' } : shapeOnlyCurrencies(v)])) as T;
}
const termsProperties = shapeOnlyCurrencies(planTermsProperties);
const security = [{ adminToken: [] }];
const effectiveFrom = { ...inputSchemas.instant, description: 'When this version takes effect (default: now). Not in the past: what was sold or invoiced keeps its terms' } as const;
const renewalPolicy = { type: 'string', enum: [...renewalPolicies], description: 'keep_price: a subscription renews at the price it was sold at (grandfathered, the default); current_price: at the version in effect at its last renewal notice (CURBMAP_RENEWAL_NOTICE_DAYS before it), so every price it charges was announced' } as const;
const planWithVersions = {
  type: 'object',
  required: ['id', 'versions', 'renewalPolicy'],
  properties: {
    id: { type: 'string' },
    renewalPolicy,
    versions: { type: 'array', items: planVersionedSchema, description: 'Every price version, oldest first; each applies from its effectiveFrom until the next one' },
  },
} as const;

/** The catalogue is the operator's (admin token): plans and their price versions, each from its date on. */
export async function adminPlanRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const plans = billingPlans(ctx);
  const present = async (planId: string) => {
    const plan = await plans.plan(planId);
    return { id: planId, versions: plan?.versions ?? [], renewalPolicy: plan?.renewalPolicy ?? DEFAULT_RENEWAL_POLICY };
  };

  app.get('/v1/admin/plans', {
    config: { auth: 'admin' },
    schema: { summary: 'Every plan with all its price versions', tags, security, response: { 200: { type: 'object', properties: { data: { type: 'array', items: planWithVersions } } }, ...problemResponses(401) } },
    handler: async () => ({ data: (await plans.all()).map((p) => ({ id: p.id, versions: p.versions, renewalPolicy: p.renewalPolicy ?? DEFAULT_RENEWAL_POLICY })) }),
  });

  app.get('/v1/admin/plans/:planId', {
    config: { auth: 'admin' },
    schema: { summary: 'A plan with all its price versions', tags, security, params: { type: 'object', required: ['planId'], properties: { planId: planIdSchema } }, response: { 200: planWithVersions, ...problemResponses(401, 404) } },
    handler: async (request) => {
      const { planId } = request.params as { planId: string };
      const found = await present(planId);
      if (found.versions.length === 0) throw notFound('plan');
      return found;
    },
  });

  app.post('/v1/admin/plans', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Put a new plan on sale (its price version 1)',
      description: 'Prices are per seat per year in minor units of each currency the plan is sold in. 409 when the plan exists: give it a new price version instead.',
      tags,
      security,
      body: { type: 'object', additionalProperties: false, required: ['id', ...planTermsRequired], properties: { id: planIdSchema, ...termsProperties, effectiveFrom } } as const,
      response: { 201: planWithVersions, ...problemResponses(400, 401, 409, 422) },
    },
    handler: async (request, reply) => {
      const { effectiveFrom: at, ...plan } = request.body as Plan & { effectiveFrom?: string };
      const meta = commandMetadata(request, ctx, PLATFORM_ORGANIZATION_ID);
      await createPlan(ctx, meta, plan, at ? toUtc(at) : meta.now);
      reply.code(201);
      return present(plan.id);
    },
  });

  app.post('/v1/admin/plans/:planId/versions', {
    config: { auth: 'admin' },
    schema: {
      summary: "Change a plan's price from a date: a new price version",
      description: "The version holds the plan's whole terms (seat prices, included usage, overage), taking effect at effectiveFrom (now or later, after the previous version's). Subscriptions sold or changed from then on are sold at it and record it; what was already sold or invoiced keeps its terms. A year's included usage and overage are priced at the version its subscription records. Every currency the previous version sold in must be priced, with an overage price per meter.",
      tags,
      security,
      params: { type: 'object', required: ['planId'], properties: { planId: planIdSchema } },
      body: { type: 'object', additionalProperties: false, required: [...planTermsRequired], properties: { ...termsProperties, effectiveFrom } } as const,
      response: { 201: planWithVersions, ...problemResponses(400, 401, 404, 422) },
    },
    handler: async (request, reply) => {
      const { planId } = request.params as { planId: string };
      const { effectiveFrom: at, ...terms } = request.body as PlanTerms & { effectiveFrom?: string };
      const meta = commandMetadata(request, ctx, PLATFORM_ORGANIZATION_ID);
      await addPriceVersion(ctx, meta, planId, terms, at ? toUtc(at) : meta.now);
      reply.code(201);
      return present(planId);
    },
  });

  app.put('/v1/admin/plans/:planId/renewal-policy', {
    config: { auth: 'admin' },
    schema: {
      summary: "Set what a plan's renewals do after a price change: keep the price sold (grandfathered) or move to the current version",
      description: 'Applies to renewals from now on; each renewal records the version it was made at. With current_price, the renewal notice (CURBMAP_RENEWAL_NOTICE_DAYS before, by default 30 and 7 days) states the old and the new price. Stripe-collected subscriptions renew at the price Stripe holds.',
      tags,
      security,
      params: { type: 'object', required: ['planId'], properties: { planId: planIdSchema } },
      body: { type: 'object', additionalProperties: false, required: ['renewalPolicy'], properties: { renewalPolicy } } as const,
      response: { 200: planWithVersions, ...problemResponses(400, 401, 404) },
    },
    handler: async (request) => {
      const { planId } = request.params as { planId: string };
      const { renewalPolicy: policy } = request.body as { renewalPolicy: RenewalPolicy };
      await setRenewalPolicy(ctx, commandMetadata(request, ctx, PLATFORM_ORGANIZATION_ID), planId, policy);
      return present(planId);
    },
  });
}
