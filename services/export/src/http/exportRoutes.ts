import type { FastifyInstance } from 'fastify';
import { exportDatasets, exportFormats, type ExportRequest } from '@curbmap/contracts';
import { assertProjectAccess, commandMetadata, forbidden, getScoped, HttpError, inputSchemas, keyAuth, notFound, NotYetVisibleError, problemResponses, toUtc, type ArtifactStore, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import type { HmacDownloadLinks } from '../adapters/hmacDownloadLinks.ts';
import { requestExport } from '../application/exportCommands.ts';
import { artifactKey } from '../application/exportRunner.ts';
import { extensionOf } from '../application/exportWriter.ts';
import { directoryCollections, type ExportOrganizationView } from '../projections/curbInventoryProjection.ts';
import { exportCollections, requestedJob, type ExportJobView } from '../projections/exportJobProjection.ts';

const security = [{ apiKey: [] }];
const tags = ['exports'];
const TERMINAL = new Set(['completed', 'failed', 'expired']);

export const exportRequestBody = {
  type: 'object',
  additionalProperties: false,
  required: ['dataset', 'format'],
  properties: {
    dataset: { type: 'string', enum: exportDatasets },
    format: { type: 'string', enum: exportFormats, description: '`cds` (curb datasets; the CDS JSON envelope), `json` (one document), `ndjson`, `csv` (RFC 4180, geometry as WKT)' },
    projectId: { type: 'string', format: 'uuid' },
    cdsVersion: { type: 'string', enum: ['1.0', '1.1'], default: '1.1' },
    filters: {
      type: 'object',
      additionalProperties: false,
      properties: {
        bbox: { type: 'array', minItems: 4, maxItems: 4, items: { type: 'number' }, description: '[minLng, minLat, maxLng, maxLat]' },
        from: inputSchemas.instant,
        to: inputSchemas.instant,
        meter: { type: 'string', minLength: 1, maxLength: 63 },
      },
      default: {},
    },
    changedSince: { ...inputSchemas.instant, description: 'Only objects updated since (CDS last_updated_date; events: event_publication_time). Use the nextChangedSince of the previous export\'s manifest.' },
    timeZone: { ...inputSchemas.timeZone, description: 'IANA time zone name; default: the organization\'s' },
    compression: { type: 'string', enum: ['none', 'gzip'], default: 'none' },
  },
} as const;

const jobSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string' },
    request: { type: 'object', additionalProperties: true },
    scheduleId: { type: ['string', 'null'] },
    attempt: { type: 'integer' },
    rowsDone: { type: 'integer' },
    rowsTotal: { type: ['integer', 'null'] },
    bytes: { type: 'integer' },
    manifest: { type: ['object', 'null'], additionalProperties: true },
    failureReason: { type: ['string', 'null'] },
    requestedAt: { type: 'string' },
    startedAt: { type: ['string', 'null'] },
    finishedAt: { type: ['string', 'null'] },
  },
} as const;

export const present = (job: ExportJobView) => {
  const { organizationId: _o, appliedVersions: _a, ...rest } = job as ExportJobView & { appliedVersions?: unknown };
  return rest;
};

export async function toExportRequest(ctx: ServiceContext, organizationId: string, body: Record<string, unknown>, restrictedTo: string | null): Promise<ExportRequest> {
  // Invoices and payments are the organization's, not a project's: a project names none of them (its export would
  // be empty while the list shows them), and a key restricted to a project reads none (as GET /v1/invoices).
  const dataset = body['dataset'] as string;
  if (dataset === 'invoices' || dataset === 'payments') {
    if (restrictedTo) throw forbidden(`a key restricted to one project cannot export ${dataset}: they are the organization's, not one project's`);
    if (body['projectId']) throw new HttpError(422, 'invalid_request', `${dataset} belong to the organization, not to a project: projectId does not apply to them`);
  }
  const projectId = (body['projectId'] as string | undefined) ?? restrictedTo;
  const org = await ctx.readStore.get<ExportOrganizationView>(directoryCollections.organizations, organizationId);
  return {
    dataset: body['dataset'] as ExportRequest['dataset'],
    format: body['format'] as ExportRequest['format'],
    projectId: projectId ?? null,
    cdsVersion: (body['cdsVersion'] as '1.0' | '1.1' | undefined) ?? '1.1',
    filters: (body['filters'] as ExportRequest['filters'] | undefined) ?? {},
    changedSince: body['changedSince'] ? toUtc(body['changedSince'] as string) : null,
    timeZone: (body['timeZone'] as string | undefined) ?? org?.timeZone ?? 'UTC',
    compression: (body['compression'] as 'none' | 'gzip' | undefined) ?? 'none',
  };
}

export async function exportRoutes(fastify: FastifyInstance, ctx: ServiceContext, deps: { artifacts: ArtifactStore; links: HmacDownloadLinks; linkTtlMs: number }): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const jobOf = async (request: { params: unknown }, auth: ReturnType<typeof keyAuth>) => {
    const job = await getScoped<ExportJobView>(ctx.readStore, auth, exportCollections.jobs, (request.params as { id: string }).id, 'export');
    if (auth.projectId && job.request.projectId !== auth.projectId) throw notFound('export');
    return job;
  };

  app.post('/v1/exports', {
    config: { auth: 'key', minRole: 'member' },
    schema: {
      summary: 'Start an export of curb data (CDS, JSON, NDJSON, CSV) or of the organization\'s usage, invoices or payments',
      description: 'Answers 202 with the job; follow it at `GET /v1/exports/{id}` or `/events` (server-sent events). Send an Idempotency-Key: a retried request is the same job.',
      tags,
      security,
      body: exportRequestBody,
      response: { 202: jobSchema, ...problemResponses(400, 401, 403, 404, 409, 422) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const body = request.body as Record<string, unknown>;
      assertProjectAccess(auth, (body['projectId'] as string | undefined) ?? auth.projectId);
      const exportRequest = await toExportRequest(ctx, auth.organizationId, body, auth.projectId);
      const { jobId, write } = await requestExport(ctx, commandMetadata(request, ctx, auth.organizationId), exportRequest, undefined, { consistent: false });
      // Read your write; when the jobs read model lags (a process catching up), the job as its request made it:
      // the answer names the job to follow either way.
      if (write) await ctx.waitForReadModels(write).catch((err) => (err instanceof NotYetVisibleError ? undefined : Promise.reject(err)));
      const job = (await ctx.readStore.get<ExportJobView>(exportCollections.jobs, jobId)) ?? requestedJob(jobId, auth.organizationId, { request: exportRequest, scheduleId: null }, ctx.now().toISOString());
      // The same Idempotency-Key once used by a key of the whole organization: a key restricted to a project is not shown that job.
      if (auth.projectId && job.request.projectId !== auth.projectId) throw new HttpError(409, 'idempotency_key_reused', 'this Idempotency-Key was used for another export; send a new key');
      reply.code(202).header('location', `/v1/exports/${jobId}`);
      return present(job);
    },
  });

  app.get('/v1/exports', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'List exports, newest first',
      tags,
      security,
      querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 }, cursor: { type: 'string', maxLength: 500 }, status: { type: 'string', enum: ['requested', 'running', 'completed', 'failed', 'expired'] } } },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: jobSchema }, next: { type: ['string', 'null'] } } }, ...problemResponses(400, 401) },
    },
    handler: async (request) => {
      const auth = keyAuth(request);
      const q = request.query as { limit: number; cursor?: string; status?: string };
      const filter: Record<string, string> = { organizationId: auth.organizationId };
      if (q.status) filter['status'] = q.status;
      // A project key lists its project's exports: filtered here, pages may come out shorter than the limit.
      const page = await ctx.readStore.findPage<ExportJobView>(exportCollections.jobs, filter, { limit: q.limit, orderBy: 'requestedAt', direction: 'desc', after: q.cursor ?? null });
      return { data: page.items.filter((j) => !auth.projectId || j.request.projectId === auth.projectId).map(present), next: page.next };
    },
  });

  app.get('/v1/exports/:id', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'An export: status, rows done of total, bytes, and its manifest once completed', tags, security, params: inputSchemas.idParams, response: { 200: jobSchema, ...problemResponses(401, 404) } },
    handler: async (request) => present(await jobOf(request, keyAuth(request))),
  });

  app.get('/v1/exports/:id/events', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'Progress of an export as server-sent events (`progress`, then `completed` or `failed`)',
      tags,
      security,
      params: inputSchemas.idParams,
      produces: ['text/event-stream'],
      response: { 200: { description: 'text/event-stream: one event per change of the job, the last one `completed`, `failed` or `expired`', type: 'string' }, ...problemResponses(401, 404) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      let job = await jobOf(request, auth);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      let closed = false;
      request.raw.on('close', () => (closed = true));
      let last = '';
      let sinceBeat = 0;
      for (;;) {
        const view = present(job);
        const data = JSON.stringify(view);
        if (data !== last) {
          const event = TERMINAL.has(job.status) ? job.status : 'progress';
          res.write(`id: ${job.updatedAt}\nevent: ${event}\ndata: ${data}\n\n`);
          last = data;
        } else if ((sinceBeat += 1) >= 60) {
          res.write(': keep-alive\n\n');
          sinceBeat = 0;
        }
        if (TERMINAL.has(job.status) || closed) break;
        await new Promise((r) => setTimeout(r, 250));
        job = (await ctx.readStore.get<ExportJobView>(exportCollections.jobs, job.id)) ?? job;
      }
      res.end();
    },
  });

  app.get('/v1/exports/:id/download', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'Download an export: a redirect to a signed link that expires (15 minutes) and opens this artifact only',
      tags,
      security,
      params: inputSchemas.idParams,
      response: { 302: { description: 'Location: the signed link', type: 'null' }, ...problemResponses(401, 404, 409, 410) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const job = await jobOf(request, auth);
      if (job.status === 'expired') throw new HttpError(410, 'artifact_expired', 'this export\'s artifact was deleted after its retention period; start the export again');
      if (job.status !== 'completed') throw new HttpError(409, 'export_not_ready', `this export is ${job.status}; download it once it is completed`);
      const url = deps.links.sign(job.id, auth.organizationId, new Date(ctx.now().getTime() + deps.linkTtlMs));
      return reply.redirect(url, 302);
    },
  });

  app.get('/downloads/exports/:id', {
    config: { auth: 'public' },
    schema: {
      summary: 'A signed download link (from GET /v1/exports/{id}/download); needs no API key',
      tags,
      params: inputSchemas.idParams,
      querystring: { type: 'object', properties: { org: { type: 'string' }, expires: { type: 'string' }, signature: { type: 'string' } } },
      response: { 200: { description: 'The artifact (its SHA-256 in ETag and X-Content-SHA256)', type: 'string' }, ...problemResponses(403, 404, 410) },
    },
    handler: async (request, reply) => {
      const jobId = (request.params as { id: string }).id;
      const why = deps.links.verify(jobId, request.query as Record<string, string>, ctx.now());
      if (why === 'invalid') throw new HttpError(403, 'invalid_signature', 'this download link is not valid');
      if (why === 'expired') throw new HttpError(410, 'link_expired', 'this download link has expired; ask for a new one with GET /v1/exports/{id}/download');
      const org = (request.query as { org: string }).org;
      const job = await ctx.readStore.get<ExportJobView>(exportCollections.jobs, jobId);
      if (!job || job.organizationId !== org) throw notFound('export');
      if (job.status !== 'completed' || !job.manifest) throw new HttpError(410, 'artifact_expired', 'this export\'s artifact is no longer available');
      const artifact = await deps.artifacts.open(artifactKey(job, extensionOf(job.request)));
      if (!artifact) throw new HttpError(410, 'artifact_expired', 'this export\'s artifact is no longer available');
      const gz = job.request.compression === 'gzip';
      reply
        .header('content-type', gz ? 'application/gzip' : job.manifest.contentType)
        .header('content-length', artifact.bytes)
        .header('content-disposition', `attachment; filename="${job.manifest.fileName}"`)
        .header('etag', `"${job.manifest.sha256}"`)
        .header('x-content-sha256', job.manifest.sha256)
        .header('cache-control', 'private, no-store');
      return reply.send(artifact.stream);
    },
  });
}
