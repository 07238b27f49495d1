import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { curbKinds, type CurbKind } from '@curbmap/contracts';
import { InvalidCursorError, type Filter } from '@curbmap/eventsourcing';
import { HttpError, keyAuth, notFound, problemResponses, type KeyAuth, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import type { BBox, CdsObject } from '../domain/curbs/cdsValidation.ts';
import { cds11Event } from '../domain/exportJob/exportRows.ts';
import { curbCollections, directoryCollections, type CurbDocument, type ExportOrganizationView } from '../projections/curbInventoryProjection.ts';

export const CDS_MEDIA_TYPE = 'application/vnd.cds+json;version=1.1';
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
  radius: { type: 'number', minimum: 0, maximum: 100_000, description: 'Metres around lat/lng' },
} as const;

/**
 * The media types a client accepts: we serve CDS 1.1 only. `application/vnd.cds+json` with another `version`
 * (and nothing else acceptable) is 406; no Accept, `*\/*`, JSON and CDS without a version are fine.
 */
export function acceptsCds11(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    if (type === '*/*' || type === 'application/*' || type === 'application/json') return true;
    if (type !== 'application/vnd.cds+json') return false;
    const version = params.find((p) => p.startsWith('version='))?.slice('version='.length).replace(/"/g, '');
    return version === undefined || version === '1.1' || /^1\.1\.\d+$/.test(version);
  });
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
    if (request.url.startsWith('/cds/') && !acceptsCds11(request.headers.accept)) throw new HttpError(406, 'not_acceptable', `this feed serves CDS 1.1 only (${CDS_MEDIA_TYPE}); CDS 1.0 is available as an export (POST /v1/exports with cdsVersion 1.0)`);
  });

  const head = async (auth: KeyAuth) => {
    const org = await ctx.readStore.get<ExportOrganizationView>(directoryCollections.organizations, auth.organizationId);
    return { version: '1.1', time_zone: org?.timeZone ?? 'UTC', last_updated: ctx.now().getTime(), currency: org?.currency ?? 'USD', author: org?.name ?? '' };
  };
  const scope = (auth: KeyAuth): Filter => (auth.projectId ? { organizationId: auth.organizationId, projectId: auth.projectId } : { organizationId: auth.organizationId });
  // A Buffer: fastify sends it as is, with the media type exactly as CDS spells it.
  const send = (reply: FastifyReply, body: unknown) => reply.header('content-type', CDS_MEDIA_TYPE).send(Buffer.from(JSON.stringify(body)));
  const nextLink = (request: FastifyRequest, next: string | null) => {
    if (!next) return null;
    const url = new URL(request.url, 'http://feed');
    url.searchParams.set('cursor', next);
    return `${url.pathname}${url.search}`;
  };
  const pageOf = async (collection: string, filter: Filter, query: { limit: number; cursor?: string }) => {
    try {
      return await ctx.readStore.findPage<CurbDocument>(collection, filter, { limit: query.limit, after: query.cursor ?? null });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new HttpError(400, 'invalid_cursor', err.message);
      throw err;
    }
  };

  for (const kind of curbKinds) {
    const spatial = kind !== 'policies';
    app.get(`/cds/1.1/curbs/${kind}`, {
      config: { auth: 'key', minRole: 'read_only' },
      schema: {
        summary: `CDS 1.1 Curbs API: ${kind}`,
        description: spatial ? 'Filters: bounding box (min_lat, min_lng, max_lat, max_lng) or lat/lng/radius (metres); `time` (ms): objects valid then; `include_geometry=false` leaves geometry out. Pages of `limit`; follow `links.next` (null on the last page).' : 'Pages of `limit`; follow `links.next` (null on the last page).',
        tags,
        security,
        querystring: { type: 'object', additionalProperties: false, properties: { ...page, ...(spatial ? { ...bboxQuery, include_geometry: { type: 'boolean', default: true }, time: { type: 'integer', minimum: 0 } } : {}) } },
        response: { 200: envelope, ...problemResponses(400, 401, 406) },
      },
      handler: async (request, reply) => {
        const auth = keyAuth(request);
        const q = request.query as Record<string, number | boolean | string | undefined> & { limit: number; cursor?: string };
        const filter = scope(auth);
        const box = q['min_lat'] !== undefined || q['max_lat'] !== undefined || q['min_lng'] !== undefined || q['max_lng'] !== undefined;
        if (box) {
          const [minLat, minLng, maxLat, maxLng] = ['min_lat', 'min_lng', 'max_lat', 'max_lng'].map((k) => q[k] as number | undefined);
          if ([minLat, minLng, maxLat, maxLng].some((v) => v === undefined) || minLat! > maxLat! || minLng! > maxLng!) throw new HttpError(400, 'invalid_bbox', 'a bounding box needs min_lat ≤ max_lat and min_lng ≤ max_lng, all four');
          Object.assign(filter, { maxLng: { $gte: minLng! }, minLng: { $lte: maxLng! }, maxLat: { $gte: minLat! }, minLat: { $lte: maxLat! } });
        }
        const near = q['lat'] !== undefined || q['lng'] !== undefined || q['radius'] !== undefined;
        if (near) {
          if (q['lat'] === undefined || q['lng'] === undefined || q['radius'] === undefined) throw new HttpError(400, 'invalid_query', 'lat, lng and radius go together');
          const r = radiusBox(q['lat'] as number, q['lng'] as number, q['radius'] as number);
          Object.assign(filter, { maxLng: { $gte: r.minLng }, minLng: { $lte: r.maxLng }, maxLat: { $gte: r.minLat }, minLat: { $lte: r.maxLat } });
        }
        const result = await pageOf(curbCollections[kind], filter, q);
        const at = q['time'] as number | undefined;
        const items = result.items
          .filter((d) => !near || distanceToBox(q['lat'] as number, q['lng'] as number, d) <= (q['radius'] as number))
          .filter((d) => at === undefined || (Number(d.cds['start_date'] ?? 0) <= at && (d.cds['end_date'] === undefined || Number(d.cds['end_date']) > at)))
          .map((d) => (q['include_geometry'] === false ? withoutGeometry(d.cds) : d.cds));
        return send(reply, { ...(await head(auth)), data: { [kind]: items }, links: { next: nextLink(request, result.next) } });
      },
    });

    app.get(`/cds/1.1/curbs/${kind}/:id`, {
      config: { auth: 'key', minRole: 'read_only' },
      schema: { summary: `CDS 1.1 Curbs API: one ${singular[kind]}`, tags, security, params: idParams, response: { 200: envelope, ...problemResponses(401, 404, 406) } },
      handler: async (request, reply) => {
        const auth = keyAuth(request);
        const id = (request.params as { id: string }).id;
        // The same CDS id may exist in several projects of the organization: the first one answers.
        const [doc] = await ctx.readStore.find<CurbDocument>(curbCollections[kind], { ...scope(auth), cdsId: id }, { limit: 1 });
        if (!doc) throw notFound(`curb ${singular[kind]}`);
        return send(reply, { ...(await head(auth)), data: doc.cds });
      },
    });
  }

  app.get('/cds/1.1/events/events', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'CDS 1.1 Events API: events of an hour',
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
      response: { 200: envelope, ...problemResponses(400, 401, 406) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const q = request.query as { limit: number; cursor?: string; event_time?: string; curb_zone_id?: string; curb_area_id?: string; curb_space_id?: string; curb_object_id?: string };
      const from = q.event_time ? Date.parse(`${q.event_time}:00:00Z`) : ctx.now().getTime() - 3_600_000;
      if (!Number.isFinite(from)) throw new HttpError(400, 'invalid_query', 'event_time is a UTC hour, YYYY-MM-DDTHH');
      const result = await pageOf(curbCollections.events, { ...scope(auth), time: { $gte: from, $lt: q.event_time ? from + 3_600_000 : ctx.now().getTime() + 1 } }, q);
      const items = result.items
        .map((d) => d.cds)
        .filter((e) => (!q.curb_zone_id || e['curb_zone_id'] === q.curb_zone_id) && (!q.curb_space_id || e['curb_space_id'] === q.curb_space_id) && (!q.curb_object_id || e['curb_object_id'] === q.curb_object_id) && (!q.curb_area_id || ((e['curb_area_ids'] as string[] | undefined) ?? []).includes(q.curb_area_id)))
        .map(cds11Event);
      return send(reply, { ...(await head(auth)), data: { events: items }, links: { next: nextLink(request, result.next) } });
    },
  });
}

function withoutGeometry(cds: CdsObject): CdsObject {
  const { geometry: _g, ...rest } = cds;
  return rest;
}
