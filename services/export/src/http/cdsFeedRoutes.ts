import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { curbKinds, type CurbKind } from '@curbmap/contracts';
import type { Document, Filter } from '@curbmap/eventsourcing';
import { HttpError, keyAuth, notFound, problemResponses, type KeyAuth, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import type { BBox, CdsObject } from '../domain/curbs/cdsValidation.ts';
import { cds11Event } from '../domain/exportJob/exportRows.ts';
import { writeExport } from '../application/exportWriter.ts';
import { curbCollections, curbDocumentId, curbInventoryProjection, directoryCollections, inProject, type CurbDocument, type ExportOrganizationView } from '../projections/curbInventoryProjection.ts';

export const CDS_MEDIA_TYPE = 'application/vnd.cds+json;version=1.1';
export const CDS_CSV_MEDIA_TYPE = 'application/vnd.cds+csv;version=1.1';
/** A CDS time (integer milliseconds) the platform can represent: 1970 up to 2200 (a larger one answered 500). */
const msInstant = { type: 'integer', minimum: 0, maximum: 7_258_118_400_000 } as const;
/** A radius query answers at most this many objects (ordered by distance, so it reads them all). */
const MAX_NEAR = 10_000;
const security = [{ apiKey: [] }];
const tags = ['cds'];
const singular: Record<CurbKind, string> = { zones: 'zone', areas: 'area', spaces: 'space', objects: 'object', policies: 'policy' };
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } } as const;
const envelope = { type: 'object', additionalProperties: true } as const;
const page = { limit: { type: 'integer', minimum: 1, maximum: 5000, default: 1000 }, cursor: { type: 'string', maxLength: 500, description: 'From `links.next` of the previous page' } } as const;
const bboxQuery = {
  min_lat: { type: 'number', minimum: -90, maximum: 90 },
  min_lng: { type: 'number', minimum: -180, maximum: 180 },
  max_lat: { type: 'number', minimum: -90, maximum: 90 },
  max_lng: { type: 'number', minimum: -180, maximum: 180 },
  lat: { type: 'number', minimum: -90, maximum: 90 },
  lng: { type: 'number', minimum: -180, maximum: 180 },
  radius: { type: 'number', minimum: 0, maximum: 10_000_000, description: 'Centimetres around lat/lng (CDS lengths are centimetres); results are ordered by distance' },
} as const;

/**
 * Does the client accept what we serve, CDS 1.1 (JSON, or CSV for the Metrics API)? The most specific range that
 * matches decides, with its q (RFC 9110 §12.5.1): `application/vnd.cds+json;version=1.1` (or 1.1.x), then the CDS
 * type without a version, then the plain equivalent (`application/json`; `text/csv` for CSV), then
 * `application/*` (`text/*`), then `*\/*`. q=0 refuses. A CDS type with another version matches nothing.
 */
export function acceptsCds11(accept: string | undefined, format: 'json' | 'csv' = 'json'): boolean {
  if (!accept) return true;
  const cds = format === 'json' ? 'application/vnd.cds+json' : 'application/vnd.cds+csv';
  const plain = format === 'json' ? 'application/json' : 'text/csv';
  let best = { specificity: -1, q: 0 };
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    const param = (name: string) => params.find((p) => p.startsWith(`${name}=`))?.slice(name.length + 1).replace(/"/g, '');
    const q = Number(param('q') ?? '1');
    const version = param('version');
    let specificity = -1;
    if (type === cds) specificity = version === undefined ? 3 : version === '1.1' || /^1\.1\.\d+$/.test(version) ? 4 : -1;
    else if (type === plain) specificity = 2;
    else if (type === 'application/*' || (format === 'csv' && type === 'text/*')) specificity = 1;
    else if (type === '*/*') specificity = 0;
    if (specificity > best.specificity) best = { specificity, q: Number.isFinite(q) ? q : 0 };
  }
  return best.specificity >= 0 && best.q > 0;
}

/** Metres to degrees: a bounding box around a point, enough to select candidates before the exact distance. */
function radiusBox(lat: number, lng: number, radius: number): BBox {
  const dLat = radius / 111_320;
  const dLng = radius / (111_320 * Math.max(0.01, Math.cos((lat * Math.PI) / 180)));
  return { minLat: lat - dLat, maxLat: lat + dLat, minLng: lng - dLng, maxLng: lng + dLng };
}

/** Distance in metres from a point to a bounding box (0 inside): equirectangular, exact enough for curbs. */
function distanceToBox(lat: number, lng: number, box: Partial<BBox>): number {
  const clampedLat = Math.min(Math.max(lat, box.minLat ?? lat), box.maxLat ?? lat);
  const clampedLng = Math.min(Math.max(lng, box.minLng ?? lng), box.maxLng ?? lng);
  const x = (clampedLng - lng) * 111_320 * Math.cos((lat * Math.PI) / 180);
  const y = (clampedLat - lat) * 111_320;
  return Math.hypot(x, y);
}

/**
 * The live CDS 1.1 feed of an organization (a key restricted to a project serves that project): the Curbs
 * and Events APIs as the spec defines them, from the same read models as exports, paginated with `links.next`.
 */
export async function cdsFeedRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/cds/')) return;
    const csv = request.url.startsWith('/cds/1.1/metrics/');
    if (!acceptsCds11(request.headers.accept, csv ? 'csv' : 'json')) throw new HttpError(406, 'not_acceptable', `this feed serves CDS 1.1 only (${csv ? CDS_CSV_MEDIA_TYPE : CDS_MEDIA_TYPE}); CDS 1.0 is available as an export (POST /v1/exports with cdsVersion 1.0)`);
  });

  const head = async (auth: KeyAuth) => {
    const org = await ctx.readStore.get<ExportOrganizationView>(directoryCollections.organizations, auth.organizationId);
    return { version: '1.1', time_zone: org?.timeZone ?? 'UTC', last_updated: ctx.now().getTime(), currency: org?.currency ?? 'USD', author: org?.name ?? '' };
  };
  const scope = (auth: KeyAuth): Filter => ({ organizationId: auth.organizationId, ...(auth.projectId ? inProject(auth.projectId) : {}) });
  // A Buffer: fastify sends it as is, with the media type exactly as CDS spells it.
  const send = (reply: FastifyReply, body: unknown) => reply.header('content-type', CDS_MEDIA_TYPE).send(Buffer.from(JSON.stringify(body)));
  const nextLink = (request: FastifyRequest, next: string | null) => {
    if (!next) return null;
    const url = new URL(request.url, 'http://feed');
    url.searchParams.set('cursor', next);
    return `${url.pathname}${url.search}`;
  };
  const pageOf = (collection: string, filter: Filter, query: { limit: number; cursor?: string }) => ctx.readStore.findPage<CurbDocument>(collection, filter, { limit: query.limit, after: query.cursor ?? null });

  for (const kind of curbKinds) {
    const spatial = kind !== 'policies';
    app.get(`/cds/1.1/curbs/${kind}`, {
      config: { auth: 'key', minRole: 'read_only' },
      schema: {
        summary: `CDS 1.1 Curbs API: ${kind}`,
        produces: [CDS_MEDIA_TYPE],
        description: spatial ? 'Filters: bounding box (min_lat, min_lng, max_lat, max_lng) or lat/lng/radius (metres); `time` (ms): objects valid then; `include_geometry=false` leaves geometry out. Pages of `limit`; follow `links.next` (null on the last page).' : 'Pages of `limit`; follow `links.next` (null on the last page).',
        tags,
        security,
        querystring: { type: 'object', additionalProperties: false, properties: { ...page, ...(spatial ? { ...bboxQuery, include_geometry: { type: 'boolean', default: true }, time: msInstant } : {}) } },
        response: { 200: envelope, ...problemResponses(400, 401, 406, 422) },
      },
      handler: async (request, reply) => {
        const auth = keyAuth(request);
        const q = request.query as Record<string, number | boolean | string | undefined> & { limit: number; cursor?: string };
        const filter = scope(auth);
        const box = q['min_lat'] !== undefined || q['max_lat'] !== undefined || q['min_lng'] !== undefined || q['max_lng'] !== undefined;
        if (box) {
          const [minLat, minLng, maxLat, maxLng] = ['min_lat', 'min_lng', 'max_lat', 'max_lng'].map((k) => q[k] as number | undefined);
          if ([minLat, minLng, maxLat, maxLng].some((v) => v === undefined) || minLat! > maxLat! || minLng! > maxLng!) throw new HttpError(422, 'invalid_bbox', 'a bounding box needs min_lat ≤ max_lat and min_lng ≤ max_lng, all four');
          Object.assign(filter, { maxLng: { $gte: minLng! }, minLng: { $lte: maxLng! }, maxLat: { $gte: minLat! }, minLat: { $lte: maxLat! } });
        }
        const near = q['lat'] !== undefined || q['lng'] !== undefined || q['radius'] !== undefined;
        if (near && box) throw new HttpError(422, 'invalid_query', 'lat/lng/radius and a bounding box cannot be combined');
        const at = q['time'] as number | undefined;
        const shown = (d: CurbDocument) => at === undefined || (Number(d.cds['start_date'] ?? 0) <= at && (d.cds['end_date'] === undefined || Number(d.cds['end_date']) > at));
        const present = (d: CurbDocument) => (q['include_geometry'] === false ? withoutGeometry(d.cds) : d.cds);
        if (near) {
          if (q['lat'] === undefined || q['lng'] === undefined || q['radius'] === undefined) throw new HttpError(422, 'invalid_query', 'lat, lng and radius go together');
          // Nearest first, as the spec asks: the candidates of the circle's box, by distance, then paged by offset.
          const [lat, lng, metres] = [q['lat'] as number, q['lng'] as number, (q['radius'] as number) / 100];
          const r = radiusBox(lat, lng, metres);
          Object.assign(filter, { maxLng: { $gte: r.minLng }, minLng: { $lte: r.maxLng }, maxLat: { $gte: r.minLat }, minLat: { $lte: r.maxLat } });
          const candidates = await ctx.readStore.find<CurbDocument>(curbCollections[kind], filter, { limit: MAX_NEAR + 1 });
          if (candidates.length > MAX_NEAR) throw new HttpError(422, 'too_many_results', `more than ${MAX_NEAR} ${kind} within this radius; narrow it, or use a bounding box (paged)`);
          const ranked = candidates
            .map((d) => ({ d, distance: distanceToBox(lat, lng, d) }))
            .filter((x) => x.distance <= metres && shown(x.d))
            .sort((a, b) => a.distance - b.distance || a.d.id.localeCompare(b.d.id));
          const offset = q.cursor ? Number(/^n(\d+)$/.exec(q.cursor)?.[1] ?? Number.NaN) : 0;
          if (!Number.isSafeInteger(offset)) throw new HttpError(422, 'invalid_cursor', 'invalid cursor; use the next link of the previous page');
          const slice = ranked.slice(offset, offset + q.limit).map((x) => present(x.d));
          const next = offset + q.limit < ranked.length ? `n${offset + q.limit}` : null;
          return send(reply, { ...(await head(auth)), data: { [kind]: slice }, links: { next: nextLink(request, next) } });
        }
        const result = await pageOf(curbCollections[kind], filter, q);
        const items = result.items.filter(shown).map(present);
        return send(reply, { ...(await head(auth)), data: { [kind]: items }, links: { next: nextLink(request, result.next) } });
      },
    });

    app.get(`/cds/1.1/curbs/${kind}/:id`, {
      config: { auth: 'key', minRole: 'read_only' },
      schema: { summary: `CDS 1.1 Curbs API: one ${singular[kind]}`, produces: [CDS_MEDIA_TYPE], tags, security, params: idParams, response: { 200: envelope, ...problemResponses(401, 404, 406) } },
      handler: async (request, reply) => {
        const auth = keyAuth(request);
        const id = (request.params as { id: string }).id;
        // The same CDS id may exist in several projects of the organization: the first one (by project id) answers.
        const projects = auth.projectId ? [auth.projectId] : (await ctx.readStore.find<Document>(directoryCollections.projects, { organizationId: auth.organizationId })).map((p) => p.id);
        let doc: CurbDocument | null = null;
        for (const projectId of projects) {
          doc = await ctx.readStore.get<CurbDocument>(curbCollections[kind], curbDocumentId(projectId, id));
          if (doc) break;
        }
        if (!doc || doc.organizationId !== auth.organizationId) throw notFound(`curb ${singular[kind]}`);
        return send(reply, { ...(await head(auth)), data: doc.cds });
      },
    });
  }

  app.get('/cds/1.1/events/events', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'CDS 1.1 Events API: events of an hour',
      produces: [CDS_MEDIA_TYPE],
      description: '`event_time=YYYY-MM-DDTHH` (UTC) selects an hour; without it, the last 60 minutes. Filters: curb_zone_id, curb_area_id, curb_space_id, curb_object_id.',
      tags,
      security,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ...page,
          event_time: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}$' },
          curb_zone_id: { type: 'string', format: 'uuid' },
          curb_area_id: { type: 'string', format: 'uuid' },
          curb_space_id: { type: 'string', format: 'uuid' },
          curb_object_id: { type: 'string', format: 'uuid' },
        },
      },
      response: { 200: envelope, ...problemResponses(400, 401, 406, 422) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const q = request.query as { limit: number; cursor?: string; event_time?: string; curb_zone_id?: string; curb_area_id?: string; curb_space_id?: string; curb_object_id?: string };
      const from = q.event_time ? Date.parse(`${q.event_time}:00:00Z`) : ctx.now().getTime() - 3_600_000;
      if (!Number.isFinite(from)) throw new HttpError(422, 'invalid_query', 'event_time is a UTC hour, YYYY-MM-DDTHH');
      const result = await pageOf(curbCollections.events, { ...scope(auth), time: { $gte: from, $lt: q.event_time ? from + 3_600_000 : ctx.now().getTime() + 1 } }, q);
      const items = result.items
        .map((d) => d.cds)
        .filter((e) => (!q.curb_zone_id || e['curb_zone_id'] === q.curb_zone_id) && (!q.curb_space_id || e['curb_space_id'] === q.curb_space_id) && (!q.curb_object_id || e['curb_object_id'] === q.curb_object_id) && (!q.curb_area_id || ((e['curb_area_ids'] as string[] | undefined) ?? []).includes(q.curb_area_id)))
        .map(cds11Event);
      return send(reply, { ...(await head(auth)), data: { events: items }, links: { next: nextLink(request, result.next) } });
    },
  });

  await metricsRoutes(fastify, ctx);
}

/** The Metrics API (CSV, the spec's columns): sessions and hourly aggregates derived from the events, streamed. */
async function metricsRoutes(app: FastifyInstance, ctx: ServiceContext): Promise<void> {
  for (const dataset of ['sessions', 'aggregates'] as const) {
    app.get(`/cds/1.1/metrics/${dataset}`, {
      config: { auth: 'key', minRole: 'read_only' },
      schema: {
        summary: `CDS 1.1 Metrics API: ${dataset} (CSV)`,
        description: dataset === 'sessions' ? 'Sessions (park_start…park_end, enter_area…leave_area) that began in [start_time, end_time) (ms; default the last 24 hours).' : 'Hourly total_events, total_sessions and average_dwell_time (minutes) per zone, space and area, in the organization\'s time zone, for [start_time, end_time) (ms; default the last 24 hours).',
        tags,
        security,
        produces: [CDS_CSV_MEDIA_TYPE],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            start_time: msInstant,
            end_time: msInstant,
            ...(dataset === 'aggregates'
              ? { curb_place_type: { type: 'string', enum: ['zone', 'space', 'area', 'object'] }, curb_place_id: { type: 'string', format: 'uuid' }, metric_type: { type: 'string', enum: ['total_sessions', 'total_events', 'turnover', 'average_dwell_time', 'occupancy_percent'] } }
              : {}),
          },
        },
        response: { 200: { description: `${CDS_CSV_MEDIA_TYPE}: a header row with the spec's column names, then a row per ${dataset === 'sessions' ? 'session' : 'place, hour and metric'}`, type: 'string' }, ...problemResponses(400, 401, 406, 422) },
      },
      handler: async (request, reply) => {
        const auth = keyAuth(request);
        const q = request.query as { start_time?: number; end_time?: number; curb_place_type?: string; curb_place_id?: string; metric_type?: string };
        const end = q.end_time ?? ctx.now().getTime();
        const start = q.start_time ?? end - 86_400_000;
        if (start >= end) throw new HttpError(422, 'invalid_query', 'start_time must be before end_time');
        if (end - start > 93 * 86_400_000) throw new HttpError(422, 'invalid_query', 'at most 93 days at once; export longer periods (POST /v1/exports)');
        const organization = await ctx.readStore.get<ExportOrganizationView>(directoryCollections.organizations, auth.organizationId);
        if (!organization) throw notFound('organization');
        const out = new PassThrough();
        reply.header('content-type', CDS_CSV_MEDIA_TYPE).send(out);
        const rowFilter = (row: Record<string, unknown>) => (!q.curb_place_type || row['curb_place_type'] === q.curb_place_type) && (!q.curb_place_id || row['curb_place_id'] === q.curb_place_id) && (!q.metric_type || row['metric_type'] === q.metric_type);
        const controller = new AbortController();
        request.raw.on('close', () => controller.abort());
        await ctx.readStore
          .snapshot((reader) =>
            writeExport({
              reader,
              organization,
              request: { dataset, format: 'cds', projectId: auth.projectId, cdsVersion: '1.1', filters: { from: new Date(start).toISOString(), to: new Date(end).toISOString() }, changedSince: null, timeZone: organization.timeZone, compression: 'none' },
              out,
              progress: { rowsDone: 0, bytes: 0 },
              signal: controller.signal,
              now: ctx.now(),
              checkpointName: curbInventoryProjection.name,
              rowFilter,
            }),
          )
          .catch((err) => {
            // The answer has begun: a failure can only cut it short (and is logged).
            if (!controller.signal.aborted) request.log.error({ err }, 'metrics feed failed');
            out.destroy(err as Error);
          });
        return reply;
      },
    });
  }
}

function withoutGeometry(cds: CdsObject): CdsObject {
  const { geometry: _g, ...rest } = cds;
  return rest;
}
