import type { FastifyInstance } from 'fastify';
import { commandMetadata, notFound, organizationKeyAuth, problemResponses, runCommand, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { billingDetailsDecider, billingDetailsStream, type BillingDetails } from '../domain/billingDetails/billingDetailsDecider.ts';
import { invoiceCollections as C, type BillingDetailsView } from '../projections/invoiceProjections.ts';

const tags = ['invoices'];
const security = [{ apiKey: [] }];
const detailsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['legalName', 'addressLines', 'country', 'locale'],
  properties: {
    legalName: { type: 'string', minLength: 1, maxLength: 200 },
    addressLines: { type: 'array', minItems: 1, maxItems: 4, items: { type: 'string', minLength: 1, maxLength: 120 } },
    country: { type: 'string', pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' },
    taxId: { type: ['string', 'null'], maxLength: 40, description: 'VAT or tax identification number, e.g. FR12345678901' },
    locale: { type: 'string', minLength: 2, maxLength: 35, description: 'BCP 47, e.g. fr-FR: the language of invoices and e-mails' },
  },
} as const;
const detailsSchema = { type: 'object', properties: { ...detailsBody.properties, updatedAt: { type: 'string' } } } as const;
const present = ({ legalName, addressLines, country, taxId, locale, updatedAt }: BillingDetailsView) => ({ legalName, addressLines, country, taxId, locale, updatedAt });

/** The organization's billing details, as its invoices show them (owner or billing_admin change them). */
export async function billingDetailsRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.put('/v1/organization/billing-details', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'Set the legal name, address, tax ID and locale invoices show',
      tags,
      security,
      body: detailsBody,
      response: { 200: detailsSchema, ...problemResponses(400, 401, 403, 422) },
    },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'change the organization\'s billing details');
      const body = request.body as BillingDetails;
      const data: BillingDetails = { legalName: body.legalName.trim(), addressLines: body.addressLines.map((l) => l.trim()), country: body.country, taxId: body.taxId ?? null, locale: body.locale };
      await runCommand(ctx, billingDetailsDecider, billingDetailsStream(auth.organizationId), { type: 'SetBillingDetails', data, metadata: commandMetadata(request, ctx, auth.organizationId) });
      return present((await ctx.readStore.get<BillingDetailsView>(C.billingDetails, auth.organizationId))!);
    },
  });

  app.get('/v1/organization/billing-details', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'The billing details invoices show', tags, security, response: { 200: detailsSchema, ...problemResponses(401, 403, 404) } },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'read the organization\'s billing details');
      const details = await ctx.readStore.get<BillingDetailsView>(C.billingDetails, auth.organizationId);
      if (!details) throw notFound('billing details');
      return present(details);
    },
  });
}
