import type { FastifyInstance } from 'fastify';
import { aggregations, meterKey, type MeterDefinition, type SchemaType } from '@curbmap/contracts';
import { format } from '@fast-csv/format';
import { commandMetadata, HttpError, inputSchemas, keyAuth, notFound, organizationKeyAuth, organizationReadAuth, problemResponses, type KeyAuth, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { correctUsage, defineMeter, ingestUsage, metersOf } from '../application/usageCommands.ts';
import { usageSummary } from '../application/usageSummary.ts';
import { quotasOf, type IncludedUsage } from '../application/usageQuotas.ts';
import { usagePeriodHistory, type PeriodHistoryView } from '../projections/usagePeriodProjection.ts';
import { builtInMeterKeys } from '../domain/meters/builtInMeters.ts';

const security = [{ apiKey: [] }];
const tags = ['usage'];
/** A property of an event's data (a dotted path), as the meter event's schema takes it. */
const propertyName = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$' } as const;
const eventIdParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200 } } } as const;
const meterSchema = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    name: { type: 'string' },
    eventType: { type: 'string' },
    aggregation: { type: 'string' },
    valueProperty: { type: ['string', 'null'] },
    groupBy: { type: 'array', items: { type: 'string' } },
    builtIn: { type: 'boolean' },
  },
} as const;

/** What a summary (and its CSV) is asked for. */
const summaryQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['meter', 'from', 'to'],
  properties: {
    meter: meterKey,
    from: inputSchemas.instant,
    to: inputSchemas.instant,
    window: { type: 'string', enum: ['hour', 'day', 'month'], default: 'day' },
    groupBy: { type: 'string', minLength: 1, maxLength: 100, description: '`project`, or one of the meter\'s groupBy properties' },
    projectId: { type: 'string', format: 'uuid' },
    timeZone: inputSchemas.timeZone,
  },
} as const;

const present = (m: MeterDefinition) => ({ ...m, builtIn: builtInMeterKeys.has(m.key) });

export async function usageRoutes(fastify: FastifyInstance, ctx: ServiceContext, included: IncludedUsage): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();

  app.post('/v1/usage/events', {
    config: { auth: 'key', minRole: 'member' },
    schema: {
      summary: 'Record usage: one event or a batch of up to 1,000',
      description:
        'Each event is `{id, type, projectId, time?, data}`; `id` is yours and unique in the organization (a retried event is a duplicate, for good), `type` names a meter\'s event type, `time` defaults to now and must be within the last 35 days and at most 5 minutes ahead. Valid events of a batch are accepted even when others are rejected; the answer lists accepted, duplicates and rejected (index and reason). Accepted events are durable before the answer. A single event that is rejected answers 422.',
      tags,
      security,
      body: { anyOf: [{ type: 'object' }, { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'object' } }] } as const,
      response: {
        200: {
          type: 'object',
          properties: {
            accepted: { type: 'integer' },
            duplicates: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, id: { type: 'string' } } } },
            rejected: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, id: { type: ['string', 'null'] }, reason: { type: 'string' } } } },
          },
        },
        ...problemResponses(400, 401, 403, 422, 429),
      },
    },
    handler: async (request) => {
      const auth = keyAuth(request);
      const single = !Array.isArray(request.body);
      const items = Array.isArray(request.body) ? request.body : [request.body];
      const outcome = await ingestUsage(ctx, commandMetadata(request, ctx, auth.organizationId), { items, restrictedTo: auth.projectId, source: 'client' });
      if (single && outcome.rejected.length > 0) throw new HttpError(422, 'usage_event_rejected', outcome.rejected[0]!.reason);
      return { accepted: outcome.accepted.length, duplicates: outcome.duplicates, rejected: outcome.rejected };
    },
  });

  for (const [action, summary] of [['void', 'Void a usage event: it stops counting'], ['amend', 'Amend the data of a usage event: it counts as amended']] as const) {
    app.post(`/v1/usage/events/:id/${action}`, {
      config: { auth: 'key', minRole: 'member' },
      schema: {
        summary,
        description: 'Rollups follow at once. Correcting a voided event is refused (409); voiding twice changes nothing. The platform\'s own measurements (built-in meters: API requests, export jobs, curb zones) cannot be corrected (422).',
        tags,
        security,
        params: eventIdParams,
        ...(action === 'amend' ? { body: { type: 'object', additionalProperties: false, required: ['data'], properties: { data: { type: 'object' } } } } : {}),
        response: { 200: { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, data: { type: ['object', 'null'], additionalProperties: true } } }, ...problemResponses(400, 401, 404, 409, 422) },
      },
      handler: async (request) => {
        const auth = keyAuth(request);
        const id = (request.params as { id: string }).id;
        const change = action === 'void' ? { type: 'void' as const } : { type: 'amend' as const, data: (request.body as { data: Record<string, unknown> }).data };
        const result = await correctUsage(ctx, commandMetadata(request, ctx, auth.organizationId), id, change, auth.projectId);
        const state = result.state;
        if (state.status === 'untouched') throw notFound('usage event');
        return { id, status: state.status, data: state.status === 'voided' ? null : state.item.data };
      },
    });
  }

  app.post('/v1/meters', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'Define a meter: what to measure in usage events of a type, and how (count, sum, max, unique_count, latest)',
      tags,
      security,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'name', 'eventType', 'aggregation'],
        properties: {
          key: meterKey,
          name: { type: 'string', minLength: 1, maxLength: 200 },
          eventType: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$' },
          aggregation: { type: 'string', enum: aggregations },
          valueProperty: propertyName,
          groupBy: { type: 'array', maxItems: 10, items: propertyName },
        },
      } as const,
      response: { 201: meterSchema, ...problemResponses(400, 401, 403, 409, 422) },
    },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'define meters');
      const { key, name, eventType, aggregation, valueProperty = null, groupBy = [] } = request.body;
      const meter: MeterDefinition = { key, name, eventType, aggregation, valueProperty, groupBy };
      await defineMeter(ctx, commandMetadata(request, ctx, auth.organizationId), meter);
      reply.code(201).header('location', `/v1/meters/${key}`);
      return present(meter);
    },
  });

  app.get('/v1/meters', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'Meters: the built-in ones and the organization\'s own', tags, security, response: { 200: { type: 'object', properties: { data: { type: 'array', items: meterSchema } } }, ...problemResponses(401) } },
    handler: async (request) => ({ data: (await metersOf(ctx, keyAuth(request).organizationId)).map(present) }),
  });

  app.get('/v1/meters/:key', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'One meter', tags, security, params: { type: 'object', required: ['key'], properties: { key: meterKey } } as const, response: { 200: meterSchema, ...problemResponses(400, 401, 404) } },
    handler: async (request) => {
      const meter = (await metersOf(ctx, keyAuth(request).organizationId)).find((m) => m.key === request.params.key);
      if (!meter) throw notFound('meter');
      return present(meter);
    },
  });

  app.get('/v1/usage/summary', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: "A meter's usage over time: a series per window (hour, day or month of a zone) and the total",
      description: 'Rollups are hourly in the organization\'s time zone; from and to are taken at the start of their hour. timeZone defaults to the organization\'s; another zone is served when its hours start at the same minutes.',
      tags,
      security,
      querystring: summaryQuery,
      response: {
        200: {
          type: 'object',
          properties: {
            meter: { type: 'string' },
            aggregation: { type: 'string' },
            window: { type: 'string' },
            timeZone: { type: 'string' },
            from: { type: 'string' },
            to: { type: 'string' },
            total: { type: ['number', 'null'] },
            series: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  projectId: { type: ['string', 'null'] },
                  group: { type: ['object', 'null'], additionalProperties: true },
                  total: { type: ['number', 'null'] },
                  points: { type: 'array', items: { type: 'object', properties: { start: { type: 'string' }, value: { type: ['number', 'null'] } } } },
                },
              },
            },
          },
        },
        ...problemResponses(400, 401, 404, 422),
      },
    },
    handler: async (request) => summaryFor(keyAuth(request), request.query),
  });

  /** The summary's query, checked and scoped: a key restricted to a project sees that project only. */
  async function summaryFor(auth: KeyAuth, q: SchemaType<typeof summaryQuery>) {
    if (Date.parse(q.to) <= Date.parse(q.from)) throw new HttpError(422, 'invalid_range', 'to must be after from');
    if (Date.parse(q.to) - Date.parse(q.from) > 400 * 86_400_000) throw new HttpError(422, 'invalid_range', 'a summary covers at most 400 days');
    const meter = (await metersOf(ctx, auth.organizationId)).find((m) => m.key === q.meter);
    if (!meter) throw notFound('meter');
    if (auth.projectId && q.projectId && q.projectId !== auth.projectId) throw notFound('project');
    const projectId = auth.projectId ?? q.projectId ?? null;
    return usageSummary(ctx, auth.organizationId, { meter, from: q.from, to: q.to, window: q.window, groupBy: q.groupBy ?? null, timeZone: q.timeZone ?? null, projectId });
  }

  app.get('/v1/usage/report.csv', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'The usage summary as CSV (RFC 4180): one row per window and project',
      tags,
      security,
      produces: ['text/csv'],
      querystring: summaryQuery,
      response: { 200: { type: 'string', description: 'meter,project_id,group,window_start,value' }, ...problemResponses(400, 401, 404, 422) },
    },
    handler: async (request, reply) => {
      const summary = await summaryFor(keyAuth(request), request.query);
      const csv = format({ headers: ['meter', 'project_id', 'group', 'window_start', 'value'], includeEndRowDelimiter: true });
      reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="usage-${summary.meter}.csv"`);
      // Rows are written as they are read; the stream is the answer.
      queueMicrotask(() => {
        for (const s of summary.series) for (const point of s.points) csv.write([summary.meter, s.projectId ?? '', s.group ? JSON.stringify(s.group) : '', point.start, point.value ?? '']);
        csv.end();
      });
      return reply.send(csv);
    },
  });

  app.get('/v1/usage/quotas', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'Use of each meter the plan includes, over the current subscription year: use, included amount, percentage',
      description: 'At 80 % and 100 % of an included amount, usage.quota.threshold_reached is emitted once per period and meter.',
      tags,
      security,
      response: {
        200: {
          type: 'object',
          properties: {
            planId: { type: 'string' },
            periodStart: { type: 'string' },
            periodEnd: { type: 'string' },
            meters: { type: 'array', items: { type: 'object', properties: { meter: { type: 'string' }, use: { type: 'number' }, included: { type: 'integer' }, percentage: { type: ['number', 'null'] } } } },
          },
        },
        ...problemResponses(401, 403, 404),
      },
    },
    handler: async (request) => {
      const quotas = await quotasOf(ctx, organizationReadAuth(request, 'quotas').organizationId, included);
      if (!quotas) throw notFound('active subscription');
      return quotas;
    },
  });

  app.get('/v1/usage/periods', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'Subscription years and their usage: open, or closed with the totals billed and any later adjustments',
      tags,
      security,
      response: {
        200: {
          type: 'object',
          properties: {
            data: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  planId: { type: 'string' },
                  periodStart: { type: 'string' },
                  periodEnd: { type: 'string' },
                  endsAt: { type: 'string' },
                  closed: { type: 'boolean' },
                  totals: { anyOf: [{ type: 'null' }, { type: 'array', items: { type: 'object', properties: { meter: { type: 'string' }, aggregation: { type: 'string' }, total: { type: ['number', 'null'] }, included: { type: ['integer', 'null'] } } } }] },
                  adjustments: { type: 'array', items: { type: 'object', properties: { meter: { type: 'string' }, previousTotal: { type: ['number', 'null'] }, total: { type: ['number', 'null'] }, delta: { type: 'number' }, recordedAt: { type: 'string' } } } },
                },
              },
            },
          },
        },
        ...problemResponses(401, 403),
      },
    },
    handler: async (request) => ({ data: await ctx.readStore.find<PeriodHistoryView>(usagePeriodHistory, { organizationId: organizationReadAuth(request, 'usage periods').organizationId }, { orderBy: 'periodStart', direction: 'desc' }) }),
  });
}
