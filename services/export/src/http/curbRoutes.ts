import { pipeline, Transform, type Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { DEAD_LETTERS, type DeadLetter, type Document } from '@curbmap/eventsourcing';
import { assertProjectAccess, commandMetadata, HttpError, keyAuth, notFound, problemResponses, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { deleteZone, IMPORT_WAIT_MAX_OBJECTS, importClaim, importCurbs, recordCurbEvents, upsertZone } from '../application/curbCommands.ts';
import { curbCollections, curbDocumentId, curbImportsCollection, curbInventoryProjection, curbStream, importStatus, noCurbObjects, type CurbDocument, type CurbImportView } from '../projections/curbInventoryProjection.ts';

const security = [{ apiKey: [] }];
const tags = ['curbs'];
const projectParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } } as const;
const zoneParams = { type: 'object', required: ['id', 'zoneId'], properties: { id: { type: 'string', format: 'uuid' }, zoneId: { type: 'string', format: 'uuid' } } } as const;
const importSummary = {
  type: 'object',
  properties: {
    importId: { type: 'string' },
    source: { type: 'string' },
    cdsVersion: { type: 'string' },
    counts: { type: 'object', additionalProperties: { type: 'integer' } },
    replayed: { type: 'boolean' },
    unresolvedPolicies: { type: 'array', items: { type: 'object', properties: { policyId: { type: 'string' }, path: { type: 'string' } } } },
    unresolvedPolicyCount: { type: 'integer' },
  },
} as const;

/** An import streams: it may be far larger than the API's usual body limit. */
const MAX_IMPORT_BYTES = 1024 * 1024 * 1024;

/** The request body, unread: the import parses it as it arrives. Idempotency keys name the import, not its bytes. */
class StreamedBody {
  readonly stream: Readable;
  constructor(stream: Readable) {
    this.stream = stream;
  }
  toJSON() {
    return 'streamed body';
  }
}

/**
 * The body, cut off with a 413 past max bytes. Piped with pipeline: a client that goes away, or a forwarded
 * body whose frames fail their check, errors the stream the import reads, so the import ends (pipe would not pass
 * the error on, and the import would wait for good).
 */
function limited(stream: Readable, max: number): Readable {
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(new HttpError(413, 'body_too_large', `an import is at most ${max} bytes`));
      else done(null, chunk);
    },
  });
  return pipeline(stream, counted, () => undefined);
}

export async function curbRoutes(fastify: FastifyInstance, ctx: ServiceContext, stagingDir: string): Promise<void> {
  await fastify.register(async (scope) => {
    scope.removeContentTypeParser(['application/json']);
    scope.addContentTypeParser(['application/json', 'application/geo+json', 'application/vnd.cds+json'], (_request, payload, done) => done(null, new StreamedBody(payload as Readable)));
    scope.post('/v1/projects/:id/curbs/import', {
      config: { auth: 'key', minRole: 'member' },
      bodyLimit: MAX_IMPORT_BYTES,
      schema: {
        summary: 'Import curb data into a project: a CDS Curbs payload (1.0 or 1.1) or a GeoJSON FeatureCollection of zones',
        description:
          'The body streams (an import of 100,000 zones is fine). All or nothing: one invalid object (a non-UUID id, an unclosed polygon ring, coordinates outside WGS84) refuses the import with a 422 that lists each error\'s path and field, and nothing is written. Objects whose CDS id is in the project already are replaced. CDS serves zones and policies apart, so a zone may name a policy that is neither in the import nor in the project: it is imported, and `unresolvedPolicies` lists such policies (the first 100; `unresolvedPolicyCount` all), to be imported later.',
        tags,
        security,
        params: projectParams,
        response: {
          201: { ...importSummary, description: 'Stored, and the inventory shows it (a retried request: the first one\'s import, shown)' },
          202: { ...importSummary, description: `Stored; the inventory applies it in the background: an import of more than ${IMPORT_WAIT_MAX_OBJECTS.toLocaleString('en-US')} objects answers so at once, a smaller one when the inventory lags. The Location header names its status (GET …/curbs/imports/{importId}); Retry-After says when to look` },
          ...problemResponses(400, 401, 403, 404, 413, 415, 422),
        },
      },
      handler: async (request, reply) => {
        const auth = keyAuth(request);
        const projectId = (request.params as { id: string }).id;
        assertProjectAccess(auth, projectId);
        if (!(request.body instanceof StreamedBody)) throw new HttpError(415, 'unsupported_media_type', 'send application/json (CDS) or application/geo+json (GeoJSON)');
        const { applied, ...summary } = await importCurbs(ctx, commandMetadata(request, ctx, auth.organizationId, projectId), projectId, limited(request.body.stream, MAX_IMPORT_BYTES), stagingDir);
        if (applied) reply.code(201);
        else reply.code(202).header('retry-after', '1').header('location', `/v1/projects/${projectId}/curbs/imports/${summary.importId}`);
        return summary;
      },
    });

    scope.get('/v1/projects/:id/curbs/imports/:importId', {
      config: { auth: 'key', minRole: 'read_only' },
      schema: {
        summary: "An import's progress: how many of its chunks (1,000 objects each) the inventory has applied",
        description: 'An import answered 202 is `pending` until the inventory applies its first chunk, `applying` until it has applied every chunk, then `applied`. `failed`: the inventory could not apply one or more chunks (`failedChunks`); they are kept for the platform operator, who can apply them again, after which the import goes on. Imports made before this resource existed are not listed (404).',
        tags,
        security,
        params: { type: 'object', required: ['id', 'importId'], properties: { id: { type: 'string', format: 'uuid' }, importId: { type: 'string', format: 'uuid' } } },
        response: {
          200: {
            type: 'object',
            required: ['importId', 'projectId', 'status', 'chunks', 'appliedChunks', 'failedChunks', 'counts'],
            properties: {
              importId: { type: 'string' },
              projectId: { type: 'string' },
              status: { enum: ['pending', 'applying', 'applied', 'failed'], description: 'pending: stored, none applied yet; applying: some chunks applied; applied: all; failed: a chunk could not be applied' },
              chunks: { type: 'integer' },
              appliedChunks: { type: 'integer' },
              failedChunks: { type: 'integer', description: 'Chunks the inventory gave up on (dead letters the operator has not applied again)' },
              counts: { type: 'object', description: 'Objects applied so far, per kind', additionalProperties: { type: 'integer' } },
            },
          },
          ...problemResponses(400, 401, 403, 404),
        },
      },
      handler: async (request) => {
        const auth = keyAuth(request);
        const { id: projectId, importId } = request.params as { id: string; importId: string };
        assertProjectAccess(auth, projectId);
        const status = async (chunks: number, appliedChunks: number, counts: CurbImportView['counts']) => {
          const failedChunks = appliedChunks < chunks ? await parkedChunks(ctx, auth.organizationId, projectId, importId) : 0;
          return { importId, projectId, status: failedChunks > 0 ? 'failed' : importStatus(chunks, appliedChunks), chunks, appliedChunks, failedChunks, counts };
        };
        const view = await ctx.readStore.get<CurbImportView>(curbImportsCollection, curbDocumentId(projectId, importId));
        if (view && view.organizationId === auth.organizationId) return status(view.chunks, view.appliedChunks, view.counts);
        // Stored, but the inventory has applied none of it yet: its claim says where it is in the log.
        const claim = importClaim(auth.organizationId, projectId, importId);
        const position = (await ctx.store.claimed([claim])).get(claim);
        const last = position === undefined ? null : await ctx.store.readAt(position);
        if (!last || last.type !== 'curbs.imported' || last.organizationId !== auth.organizationId) throw notFound('import');
        return status((last.data as { chunks: number }).chunks, 0, noCurbObjects());
      },
    });
  });

  const app = fastify.withTypeProvider<SchemaTypes>();
  app.put('/v1/projects/:id/curb-zones/:zoneId', {
    config: { auth: 'key', minRole: 'member' },
    schema: {
      summary: 'Create or replace one curb zone (a CDS Curb Zone)',
      description: '`curb_zone_id` defaults to the path\'s; `last_updated_date` to now. The policies it names must be in the project.',
      tags,
      security,
      params: zoneParams,
      // What a CDS Curb Zone must carry beyond what the path and the clock give it; the rest is checked as CDS (422).
      body: {
        type: 'object',
        required: ['geometry', 'curb_policy_ids'],
        properties: {
          geometry: { type: 'object', required: ['type', 'coordinates'], properties: { type: { enum: ['Polygon', 'LineString'] }, coordinates: { type: 'array', minItems: 1 } } },
          curb_policy_ids: { type: 'array', items: { type: 'string', format: 'uuid' } },
        },
      },
      response: { 200: { type: 'object', additionalProperties: true }, ...problemResponses(400, 401, 403, 404, 422) },
    },
    handler: async (request) => {
      const auth = keyAuth(request);
      const { id, zoneId } = request.params as { id: string; zoneId: string };
      assertProjectAccess(auth, id);
      return (await upsertZone(ctx, commandMetadata(request, ctx, auth.organizationId, id), id, zoneId, request.body)).zone;
    },
  });

  app.get('/v1/projects/:id/curb-zones/:zoneId', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'One curb zone as CDS', tags, security, params: zoneParams, response: { 200: { type: 'object', additionalProperties: true }, ...problemResponses(401, 404) } },
    handler: async (request) => {
      const auth = keyAuth(request);
      const { id, zoneId } = request.params as { id: string; zoneId: string };
      assertProjectAccess(auth, id);
      const doc = await ctx.readStore.get<CurbDocument>(curbCollections.zones, curbDocumentId(id, zoneId));
      if (!doc || doc.organizationId !== auth.organizationId) throw notFound('curb zone');
      return doc.cds;
    },
  });

  app.delete('/v1/projects/:id/curb-zones/:zoneId', {
    config: { auth: 'key', minRole: 'member' },
    schema: { summary: 'Remove a curb zone from the project', tags, security, params: zoneParams, response: { 204: { type: 'null' }, ...problemResponses(401, 403, 404) } },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const { id, zoneId } = request.params as { id: string; zoneId: string };
      assertProjectAccess(auth, id);
      await deleteZone(ctx, commandMetadata(request, ctx, auth.organizationId, id), id, zoneId);
      return reply.code(204).send();
    },
  });

  app.post('/v1/projects/:id/curb-events', {
    config: { auth: 'key', minRole: 'member' },
    schema: {
      summary: 'Record CDS events (park_start, enter_area, …) for a project: a CDS Events payload or an array, 1 to 1,000',
      tags,
      security,
      params: projectParams,
      body: {
        anyOf: [
          { type: 'object', required: ['data'], properties: { data: { type: 'object', required: ['events'], properties: { events: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'object' } } } } } },
          { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'object' } },
        ],
      },
      response: { 201: { type: 'object', properties: { recorded: { type: 'integer' }, replayed: { type: 'boolean' } } }, ...problemResponses(400, 401, 403, 422, 404) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const projectId = (request.params as { id: string }).id;
      assertProjectAccess(auth, projectId);
      const result = await recordCurbEvents(ctx, commandMetadata(request, ctx, auth.organizationId, projectId), projectId, request.body);
      reply.code(201);
      return result;
    },
  });
}

/**
 * Chunks of this import the inventory parked as dead letters (and the operator has not applied again): found by the
 * project's parked letters, each read back from the log for its import id. Few: only a chunk that failed 5 times.
 */
async function parkedChunks(ctx: ServiceContext, organizationId: string, projectId: string, importId: string): Promise<number> {
  const parked = await ctx.readStore.find<DeadLetter & Document>(DEAD_LETTERS, { organizationId, subscription: curbInventoryProjection.name, streamId: curbStream(projectId), eventType: 'curbs.imported', status: 'parked' });
  let failed = 0;
  for (const letter of parked) {
    const event = letter.position === null ? null : await ctx.store.readAt(letter.position);
    if (event?.type === 'curbs.imported' && (event.data as { importId: string }).importId === importId) failed += 1;
  }
  return failed;
}
