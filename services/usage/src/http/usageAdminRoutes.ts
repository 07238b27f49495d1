import type { FastifyInstance } from 'fastify';
import { deterministicUuid } from '@curbmap/eventsourcing';
import { commandMetadata, HttpError, inputSchemas, notFound, problemResponses, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { usageCollections as C } from '../projections/usageProjections.ts';

const tags = ['operations: usage'];
const security = [{ adminToken: [] }];

/** Operator settings and operations on usage (admin token). */
export async function usageAdminRoutes(fastify: FastifyInstance, ctx: ServiceContext, closePeriods: () => ((at?: Date) => Promise<number>) | null): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();

  app.put('/v1/admin/organizations/:id/usage-settings', {
    config: { auth: 'admin' },
    schema: {
      summary: "Set how long after a subscription year ends its usage closes (grace period, default 60 minutes)",
      tags,
      security,
      params: inputSchemas.idParams,
      body: { type: 'object', additionalProperties: false, required: ['gracePeriodMinutes'], properties: { gracePeriodMinutes: { type: 'integer', minimum: 0, maximum: 10_080 } } } as const,
      response: { 200: { type: 'object', properties: { gracePeriodMinutes: { type: 'integer' } } }, ...problemResponses(400, 401, 404) },
    },
    handler: async (request) => {
      const organizationId = request.params.id;
      if (!(await ctx.readStore.get(C.organizations, organizationId))) throw notFound('organization');
      const meta = commandMetadata(request, ctx, organizationId);
      await ctx.store.append(`usagesettings-${organizationId}`, [{ id: deterministicUuid(`${meta.commandId}:usage-settings`), type: 'usage.settings.set', data: request.body, occurredAt: meta.now, organizationId }], { expectedVersion: 'any' });
      return request.body;
    },
  });

  app.post('/v1/admin/usage/close-periods', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Close the usage of every subscription year whose end plus grace period has passed (also runs every minute)',
      tags,
      security,
      response: { 200: { type: 'object', properties: { closed: { type: 'integer' } } }, ...problemResponses(401, 503) },
    },
    handler: async () => {
      const close = closePeriods();
      if (!close) throw new HttpError(503, 'unavailable', 'usage period closing is not running');
      return { closed: await close() };
    },
  });
}
