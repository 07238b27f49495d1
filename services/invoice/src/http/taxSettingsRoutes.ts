import type { FastifyInstance } from 'fastify';
import { taxModes } from '@curbmap/contracts';
import { commandMetadata, inputSchemas, notFound, organizationReadAuth, problemResponses, runCommand, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { taxSettingsOf } from '../application/taxSettings.ts';
import { taxSettingsDecider, taxSettingsStream } from '../domain/tax/taxSettingsDecider.ts';
import { invoiceCollections as C } from '../projections/invoiceProjections.ts';

const tags = ['invoices'];
const settingsSchema = {
  type: 'object',
  properties: { rateBasisPoints: { type: 'integer' }, mode: { type: 'string' }, note: { type: ['string', 'null'] } },
} as const;

/** Tax is a fact about money: the operator sets it (admin token); an organization reads it. */
export async function taxSettingsRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.put('/v1/admin/organizations/:id/tax-settings', {
    config: { auth: 'admin' },
    schema: {
      summary: "Set the tax an organization's invoices carry: a rate in basis points (2000 = 20 %), exclusive or inclusive, and the note an exemption or reverse charge needs",
      description: 'Applies to invoices issued after the change; each invoice keeps the tax it was issued with. A zero rate needs its note.',
      tags,
      security: [{ adminToken: [] }],
      params: inputSchemas.idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['rateBasisPoints', 'mode'],
        properties: { rateBasisPoints: { type: 'integer', minimum: 0, maximum: 10_000 }, mode: { type: 'string', enum: taxModes }, note: { type: ['string', 'null'], maxLength: 300 } },
      } as const,
      response: { 200: settingsSchema, ...problemResponses(400, 401, 404, 422) },
    },
    handler: async (request) => {
      const organizationId = (request.params as { id: string }).id;
      if (!(await ctx.readStore.get(C.organizations, organizationId))) throw notFound('organization');
      const body = request.body as { rateBasisPoints: number; mode: 'exclusive' | 'inclusive'; note?: string | null };
      await runCommand(ctx, taxSettingsDecider, taxSettingsStream(organizationId), { type: 'SetTaxSettings', data: { rateBasisPoints: body.rateBasisPoints, mode: body.mode, note: body.note ?? null }, metadata: commandMetadata(request, ctx, organizationId) });
      return taxSettingsOf(ctx, organizationId);
    },
  });

  app.get('/v1/organization/tax-settings', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'The tax the organization\'s next invoices carry', tags, security: [{ apiKey: [] }], response: { 200: settingsSchema, ...problemResponses(401, 403) } },
    handler: async (request) => taxSettingsOf(ctx, organizationReadAuth(request, 'the tax settings').organizationId),
  });
}
