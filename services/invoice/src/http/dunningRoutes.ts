import type { FastifyInstance } from 'fastify';
import { commandMetadata, inputSchemas, notFound, organizationReadAuth, problemResponses, runCommand, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { dunningOverview, dunningScheduleOf } from '../application/dunning.ts';
import { DEFAULT_DUNNING_DAYS, dunningScheduleDecider, dunningStream, REMINDER_STALE_DAYS } from '../domain/dunning/dunningSchedule.ts';
import { invoiceCollections as C } from '../projections/invoiceProjections.ts';

const tags = ['invoices'];
const days = { type: 'array', items: { type: 'integer' }, description: 'Days from the due date: negative before it, 0 on it, positive after' } as const;
const scheduleSchema = {
  type: 'object',
  required: ['daysFromDue', 'isDefault'],
  properties: { daysFromDue: days, isDefault: { type: 'boolean', description: `true: not set by the operator, the default (${DEFAULT_DUNNING_DAYS.join(', ')})` } },
} as const;
const overviewSchema = {
  type: 'object',
  required: ['daysFromDue', 'isDefault', 'timeZone', 'invoices'],
  properties: {
    ...scheduleSchema.properties,
    timeZone: { type: 'string', description: "The organization's zone: a reminder goes whole days of its calendar from the due date" },
    invoices: {
      type: 'array',
      items: {
        type: 'object',
        required: ['invoiceId', 'number', 'currency', 'amountRemaining', 'dueAt', 'reminders'],
        properties: {
          invoiceId: { type: 'string' },
          number: { type: 'string' },
          currency: { type: 'string' },
          amountRemaining: { type: 'integer', description: 'Minor units' },
          dueAt: { type: 'string', format: 'date-time' },
          reminders: {
            type: 'array',
            items: { type: 'object', required: ['daysFromDue', 'at', 'sentAt'], properties: { daysFromDue: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, sentAt: { type: ['string', 'null'], format: 'date-time' } } },
          },
        },
      },
    },
  },
} as const;

/** Dunning is how the operator collects money: it sets the schedule (admin token); an organization sees it and its reminders. */
export async function dunningRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.put('/v1/admin/organizations/:id/dunning-schedule', {
    config: { auth: 'admin' },
    schema: {
      summary: "Set when an organization's unpaid invoices are reminded of, in days from their due date",
      description: `Each reminder is one e-mail and one webhook (\`invoice.payment_reminder\`), sent once, at the due date moved by whole days of the organization's calendar, for invoices paid by transfer that are still unpaid (never after one is paid, voided or uncollectible). A reminder is not sent more than ${REMINDER_STALE_DAYS} days late: after downtime, only the latest one due goes. An empty list sends none. Applies to reminders not yet sent. The same schedule again changes nothing.`,
      tags,
      security: [{ adminToken: [] }],
      params: inputSchemas.idParams,
      body: { type: 'object', additionalProperties: false, required: ['daysFromDue'], properties: { daysFromDue: { ...days, maxItems: 10, uniqueItems: true, items: { type: 'integer', minimum: -90, maximum: 365 } } } } as const,
      response: { 200: scheduleSchema, ...problemResponses(400, 401, 404) },
    },
    handler: async (request) => {
      const organizationId = (request.params as { id: string }).id;
      if (!(await ctx.readStore.get(C.organizations, organizationId))) throw notFound('organization');
      const { daysFromDue } = request.body as { daysFromDue: number[] };
      await runCommand(ctx, dunningScheduleDecider, dunningStream(organizationId), { type: 'SetDunningSchedule', data: { daysFromDue }, metadata: commandMetadata(request, ctx, organizationId) });
      return dunningScheduleOf(ctx, organizationId);
    },
  });

  app.get('/v1/admin/organizations/:id/dunning', {
    config: { auth: 'admin' },
    schema: { summary: "An organization's reminder schedule and each unpaid invoice's reminders", tags, security: [{ adminToken: [] }], params: inputSchemas.idParams, response: { 200: overviewSchema, ...problemResponses(401, 404) } },
    handler: async (request) => {
      const organizationId = (request.params as { id: string }).id;
      if (!(await ctx.readStore.get(C.organizations, organizationId))) throw notFound('organization');
      return dunningOverview(ctx, organizationId);
    },
  });

  app.get('/v1/organization/dunning', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'The payment reminder schedule, and for each unpaid invoice paid by transfer its reminders (sent, and to come)', tags, security: [{ apiKey: [] }], response: { 200: overviewSchema, ...problemResponses(401, 403) } },
    handler: async (request) => dunningOverview(ctx, organizationReadAuth(request, 'payment reminders').organizationId),
  });
}
