import type { FastifyInstance } from 'fastify';
import { contractAt, contractStream, contractTermsProperties, contractTermsRequired, type ContractTerms } from '@curbmap/contracts';
import { deterministicUuid } from '@curbmap/eventsourcing';
import { commandMetadata, inputSchemas, notFound, organizationReadAuth, problemResponses, runCommand, toUtc, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { contractDecider } from '../domain/contract/contractDecider.ts';
import { billingContracts } from '../projections/contractProjection.ts';
import { billingPlans } from '../projections/planProjection.ts';
import { billingCollections as C, type CustomerView } from '../projections/billingProjections.ts';

const version = { type: 'object', properties: { contractId: { type: 'string' }, version: { type: 'integer' }, ...contractTermsProperties } } as const;
const contractAnswer = {
  type: 'object',
  required: ['current', 'versions'],
  properties: {
    current: { anyOf: [version, { type: 'null' }], description: 'The version in effect now (null: none yet, or only later ones)' },
    versions: { type: 'array', items: version, description: 'Every version, in the order set; each governs the subscription years that start from its effectiveFrom until the next one' },
  },
} as const;
const { effectiveFrom: _e, ...termsWithoutDate } = contractTermsProperties;
const body = {
  type: 'object',
  additionalProperties: false,
  required: contractTermsRequired.filter((k) => k !== 'effectiveFrom'),
  properties: { ...termsWithoutDate, effectiveFrom: { ...inputSchemas.instant, description: 'When it takes effect (default: now); not in the past. It governs the subscription years that start on or after that date' } },
} as const;
const description =
  'A city\'s negotiated terms on one plan: `seatPrice` (its own price per seat per year by currency, or a discount on the plan\'s: `discount_percent` in basis points or `discount_amount` by currency; null: the plan\'s), raised by `escalatorBasisPoints` (300 = +3 %) at each renewal within `termYears`, compounded and rounded to the minor unit; and `minimumAnnualCommitment` by currency, net of tax: at each year\'s close, what the year\'s invoices billed short of it is invoiced once (a true-up line). Years are counted from the effective date\'s anniversaries in the organization\'s zone. Sales, plan changes and renewals of manually collected subscriptions use it; Stripe-collected ones keep Stripe\'s prices.';

/** Negotiated contracts: set by the operator (admin token), read by the organization. */
export async function contractRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const contracts = billingContracts(ctx);
  const present = async (organizationId: string) => {
    const versions = await contracts.versions(organizationId);
    return { current: contractAt(versions, ctx.now().toISOString()) ?? null, versions };
  };

  app.put('/v1/admin/organizations/:id/contract', {
    config: { auth: 'admin' },
    schema: { summary: "Set an organization's negotiated contract (a new version from its effective date)", description, tags: ['operations: contracts'], security: [{ adminToken: [] }], params: inputSchemas.idParams, body, response: { 200: contractAnswer, ...problemResponses(400, 401, 404, 422) } },
    handler: async (request) => {
      const organizationId = request.params.id;
      if (!(await ctx.readStore.get<CustomerView>(C.customers, organizationId))) throw notFound('organization');
      const meta = commandMetadata(request, ctx, organizationId);
      const input = request.body as Omit<ContractTerms, 'effectiveFrom'> & { effectiveFrom?: string };
      const terms: ContractTerms = { ...input, effectiveFrom: input.effectiveFrom ? toUtc(input.effectiveFrom) : meta.now, reference: input.reference?.trim() || null };
      const plan = await billingPlans(ctx).at(terms.planId, terms.effectiveFrom);
      await runCommand(ctx, contractDecider, contractStream(organizationId), { type: 'SetContract', data: { contractId: deterministicUuid(`contract:${organizationId}`), terms, planCurrencies: plan ? Object.keys(plan.seatPrices) : null }, metadata: meta });
      return present(organizationId);
    },
  });

  app.get('/v1/admin/organizations/:id/contract', {
    config: { auth: 'admin' },
    schema: { summary: "An organization's contract and its history", tags: ['operations: contracts'], security: [{ adminToken: [] }], params: inputSchemas.idParams, response: { 200: contractAnswer, ...problemResponses(400, 401, 404) } },
    handler: async (request) => {
      if (!(await ctx.readStore.get<CustomerView>(C.customers, request.params.id))) throw notFound('organization');
      return present(request.params.id);
    },
  });

  app.get('/v1/organization/contract', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: "The organization's negotiated contract and its history", description, tags: ['billing'], security: [{ apiKey: [] }], response: { 200: contractAnswer, ...problemResponses(401, 403) } },
    handler: async (request) => present(organizationReadAuth(request, 'the contract').organizationId),
  });
}
