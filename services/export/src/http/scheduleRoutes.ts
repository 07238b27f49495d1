import type { FastifyInstance } from 'fastify';
import { assertProjectAccess, commandMetadata, getScoped, HttpError, inputSchemas, keyAuth, notFound, problemResponses, runCommand, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { eventIdFor } from '@curbmap/eventsourcing';
import { checkExportRequest } from '../application/exportWriter.ts';
import { assertProject } from '../application/curbCommands.ts';
import { cronOf, scheduleDecider, scheduleStream, type ScheduleCommand } from '../domain/schedule/exportScheduleDecider.ts';
import { exportCollections } from '../projections/exportJobProjection.ts';
import type { ExportScheduleView } from '../projections/exportScheduleProjection.ts';
import { exportRequestBody, toExportRequest } from './exportRoutes.ts';

const security = [{ apiKey: [] }];
const tags = ['exports'];
const scheduleSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    cron: { type: 'string' },
    timeZone: { type: 'string' },
    export: { type: 'object', additionalProperties: true },
    status: { type: 'string' },
    lastDueAt: { type: ['string', 'null'] },
    lastJobId: { type: ['string', 'null'] },
    nextRunAt: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
  },
} as const;

const present = (s: ExportScheduleView) => ({
  id: s.id,
  cron: s.cron,
  timeZone: s.timeZone,
  export: s.export,
  status: s.status,
  lastDueAt: s.lastDueAt,
  lastJobId: s.lastJobId,
  nextRunAt: s.status === 'active' ? (cronOf(s.cron, s.timeZone).nextRun(new Date(s.lastDueAt ?? s.createdAt))?.toISOString() ?? null) : null,
  createdAt: s.createdAt,
});

export async function scheduleRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const scheduleOf = async (request: { params: unknown }, auth: ReturnType<typeof keyAuth>) => {
    const schedule = await getScoped<ExportScheduleView>(ctx.readStore, auth, exportCollections.schedules, (request.params as { id: string }).id, 'export schedule');
    if (auth.projectId && schedule.export.projectId !== auth.projectId) throw notFound('export schedule');
    return schedule;
  };

  app.post('/v1/export-schedules', {
    config: { auth: 'key', minRole: 'member' },
    schema: {
      summary: 'Export on a schedule: a five-field cron expression in an IANA time zone',
      description: 'Each due time runs once, even across restarts; due times missed while the platform was down are caught up. At most every 5 minutes. Each run is an export job (`GET /v1/exports?…`), and `export.job.completed` notifies.',
      tags,
      security,
      body: { type: 'object', additionalProperties: false, required: ['cron', 'timeZone', 'export'], properties: { cron: { type: 'string', minLength: 9, maxLength: 100 }, timeZone: inputSchemas.timeZone, export: exportRequestBody } },
      response: { 201: scheduleSchema, ...problemResponses(400, 401, 403, 404, 422) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const body = request.body as { cron: string; timeZone: string; export: Record<string, unknown> };
      assertProjectAccess(auth, (body.export['projectId'] as string | undefined) ?? auth.projectId);
      const exportRequest = await toExportRequest(ctx, auth.organizationId, body.export, auth.projectId);
      checkExportRequest(exportRequest);
      if (exportRequest.projectId) await assertProject(ctx, auth.organizationId, exportRequest.projectId);
      const meta = commandMetadata(request, ctx, auth.organizationId);
      const scheduleId = eventIdFor(meta.commandId, -1);
      await runCommand(ctx, scheduleDecider, scheduleStream(scheduleId), { type: 'CreateSchedule', data: { scheduleId, cron: body.cron.trim(), timeZone: body.timeZone, export: exportRequest }, metadata: meta } as ScheduleCommand);
      const schedule = await ctx.readStore.get<ExportScheduleView>(exportCollections.schedules, scheduleId);
      if (!schedule) throw new HttpError(500, 'internal', 'the schedule was recorded but cannot be read back');
      reply.code(201).header('location', `/v1/export-schedules/${scheduleId}`);
      return present(schedule);
    },
  });

  app.get('/v1/export-schedules', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'Export schedules', tags, security, response: { 200: { type: 'object', properties: { data: { type: 'array', items: scheduleSchema } } }, ...problemResponses(401) } },
    handler: async (request) => {
      const auth = keyAuth(request);
      const all = await ctx.readStore.find<ExportScheduleView>(exportCollections.schedules, { organizationId: auth.organizationId, status: 'active' }, { orderBy: 'createdAt' });
      return { data: all.filter((s) => !auth.projectId || s.export.projectId === auth.projectId).map(present) };
    },
  });

  app.get('/v1/export-schedules/:id', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'An export schedule, with its next run', tags, security, params: inputSchemas.idParams, response: { 200: scheduleSchema, ...problemResponses(401, 404) } },
    handler: async (request) => present(await scheduleOf(request, keyAuth(request))),
  });

  app.delete('/v1/export-schedules/:id', {
    config: { auth: 'key', minRole: 'member' },
    schema: { summary: 'Stop an export schedule (its exports stay)', tags, security, params: inputSchemas.idParams, response: { 204: { type: 'null' }, ...problemResponses(401, 404) } },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const schedule = await scheduleOf(request, auth);
      await runCommand(ctx, scheduleDecider, scheduleStream(schedule.id), { type: 'DeleteSchedule', data: {}, metadata: commandMetadata(request, ctx, auth.organizationId) } as ScheduleCommand);
      return reply.code(204).send();
    },
  });
}
