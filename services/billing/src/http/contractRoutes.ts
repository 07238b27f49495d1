import type { FastifyInstance } from 'fastify';
import { DateTime } from 'luxon';
import { contractAt, contractStream, contractTermsProperties, contractTermsRequired, type ContractTerms, type PaymentProviderKind } from '@curbmap/contracts';
import { deterministicUuid, ValidationError } from '@curbmap/eventsourcing';
import { commandMetadata, inputSchemas, notFound, organizationReadAuth, problemResponses, runCommand, toUtc, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { contractDecider } from '../domain/contract/contractDecider.ts';
import { billingContracts } from '../projections/contractProjection.ts';
import { billingPlans } from '../projections/planProjection.ts';
import { billingCollections as C, type CustomerView } from '../projections/billingProjections.ts';

const version = { type: 'object', properties: { contractId: { type: 'string' }, version: { type: 'integer' }, termStart: { type: 'string', format: 'date-time', description: 'When its term started: its years and escalations count from here' }, ...contractTermsProperties } } as const;
const contractAnswer = {
  type: 'object',
  required: ['current', 'versions'],
  properties: {
    current: { anyOf: [version, { type: 'null' }], description: 'The version in effect now (null: none yet, only later ones, or its term has ended)' },
    versions: { type: 'array', items: version, description: 'Every version, in the order set; each governs the subscription years that start from its effectiveFrom until the next one' },
  },
} as const;
const { effectiveFrom: _e, ...termsWithoutDate } = contractTermsProperties;
const body = {
  type: 'object',
  additionalProperties: false,
  required: contractTermsRequired.filter((k) => k !== 'effectiveFrom'),
  properties: {
    ...termsWithoutDate,
    effectiveFrom: { ...inputSchemas.instant, description: 'When it takes effect (default: now); not in the past. It governs the subscription years priced from then on: sold, or renewed, at or after it' },
    newTerm: { type: 'boolean', default: false, description: 'Start a new term at effectiveFrom (its years and escalations from 0). Default: an amendment, which keeps the current term\'s start' },
  },
} as const;
const description =
  'A city\'s negotiated terms on one plan: `seatPrice` (its own price per seat per year by currency, or a discount on the plan\'s: `discount_percent` in basis points or `discount_amount` by currency; null: the plan\'s), raised by `escalatorBasisPoints` (300 = +3 %) at each renewal within `termYears`, compounded and rounded to the minor unit; and `minimumAnnualCommitment` by currency, net of tax: at each year\'s close, what the year\'s invoices billed short of it is invoiced once (a true-up line). Optional `meters`, per meter (api_requests, export_jobs, curb_zones): `includedUsage` a year and/or an `overage` price (`unitSize`, `prices` by currency), over the plan\'s for the years the contract prices, not escalated; each year records the contract version that priced it, and its close and overage invoice use that version\'s terms. Years are counted from the effective date\'s anniversaries in the organization\'s zone. Sales, plan changes and renewals of manually collected subscriptions use it; Stripe-collected ones keep Stripe\'s prices.';

/** Negotiated contracts: set by the operator (admin token), read by the organization. */
export async function contractRoutes(fastify: FastifyInstance, ctx: ServiceContext, provider: PaymentProviderKind): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const contracts = billingContracts(ctx);
  const present = async (organizationId: string) => {
    const versions = await contracts.versions(organizationId);
    const now = ctx.now();
    const current = contractAt(versions, now.toISOString());
    // A term that has ended is history, not the contract in effect.
    const ended = current && DateTime.fromISO(current.termStart, { zone: 'utc' }).plus({ years: current.termYears }).toMillis() <= now.getTime();
    return { current: current && !ended ? current : null, versions };
  };

  app.put('/v1/admin/organizations/:id/contract', {
    config: { auth: 'admin' },
    schema: { summary: "Set an organization's negotiated contract (a new version from its effective date)", description, tags: ['operations: contracts'], security: [{ adminToken: [] }], params: inputSchemas.idParams, body, response: { 200: contractAnswer, ...problemResponses(400, 401, 404, 422) } },
    handler: async (request) => {
      const organizationId = request.params.id;
      const customer = await ctx.readStore.get<CustomerView>(C.customers, organizationId);
      if (!customer) throw notFound('organization');
      // Stripe charges its own prices: a contract here would show terms nobody applies.
      if (provider !== 'manual') throw new ValidationError('contracts price subscriptions collected by invoice; this platform collects through Stripe, which charges its own prices');
      const meta = commandMetadata(request, ctx, organizationId);
      const { newTerm = false, ...input } = request.body as Omit<ContractTerms, 'effectiveFrom'> & { effectiveFrom?: string; newTerm?: boolean };
      const terms: ContractTerms = { ...input, effectiveFrom: input.effectiveFrom ? toUtc(input.effectiveFrom) : meta.now, reference: input.reference?.trim() || null };
      const plan = await billingPlans(ctx).at(terms.planId, terms.effectiveFrom);
      await runCommand(ctx, contractDecider, contractStream(organizationId), { type: 'SetContract', data: { contractId: deterministicUuid(`contract:${organizationId}`), terms, planPrices: plan?.seatPrices ?? null, currency: customer.currency, newTerm }, metadata: meta });
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
