import type { Readable } from 'node:stream';
import { curbKinds, type CurbKind, type NewEvent } from '@curbmap/contracts';
import { ClaimConflictError, eventIdFor, type CommandMetadata } from '@curbmap/eventsourcing';
import { HttpError, notFound, type ServiceContext } from '@curbmap/service-kit';
import { checkCurbEvent, checkCurbObject, kindRules, type CdsObject, type FieldError } from '../domain/curbs/cdsValidation.ts';
import { parseCurbImport, type ImportHeader } from '../domain/curbs/curbImportParser.ts';
import { curbCollections, curbDocumentId, curbEventStream, curbStream, directoryCollections } from '../projections/curbInventoryProjection.ts';

/** At most this many objects per stored event: an import of 100,000 zones is 100 events, appended at once. */
const CHUNK = 1000;
/** Errors listed in a refusal; the count says how many there were in all. */
const MAX_LISTED_ERRORS = 100;

export interface ImportSummary {
  importId: string;
  source: 'cds' | 'geojson';
  cdsVersion: '1.0' | '1.1';
  counts: Record<CurbKind, number>;
  replayed: boolean;
}

const claimOf = (meta: CommandMetadata) => `curbs:${meta.organizationId}:${meta.commandId}`;

export async function assertProject(ctx: ServiceContext, organizationId: string, projectId: string): Promise<void> {
  const project = await ctx.readStore.get(directoryCollections.projects, projectId);
  if (!project || project.organizationId !== organizationId) throw notFound('project');
}

function refuse(errors: FieldError[], count: number, what: string): never {
  throw new HttpError(400, 'invalid_curb_data', `${what} was refused, nothing was written: ${count} error${count === 1 ? '' : 's'}; first: ${errors[0]!.path} ${errors[0]!.message}`, errors.slice(0, MAX_LISTED_ERRORS));
}

/** CDS "1.0", "1.0.1" or "1.1.x" → the version we keep. */
function cdsVersionOf(version: string | null): '1.0' | '1.1' | null {
  if (version === null) return '1.1';
  if (/^1\.0(\.\d+)?$/.test(version)) return '1.0';
  if (/^1\.1(\.\d+)?$/.test(version)) return '1.1';
  return null;
}

/**
 * A GeoJSON Feature as a CDS zone: its properties are the zone's fields, its geometry the zone's; the id
 * comes from `curb_zone_id` or the feature's id. Dates a GIS file rarely has default to the import's time.
 */
function zoneOfFeature(feature: unknown, now: number): unknown {
  if (!feature || typeof feature !== 'object' || (feature as { type?: unknown }).type !== 'Feature') return feature;
  const f = feature as { id?: unknown; properties?: Record<string, unknown> | null; geometry?: unknown };
  const props = f.properties ?? {};
  return { curb_zone_id: props['curb_zone_id'] ?? f.id, curb_policy_ids: [], published_date: now, last_updated_date: now, start_date: now, ...props, geometry: f.geometry };
}

/**
 * Imports a CDS Curbs payload or a GeoJSON FeatureCollection into a project, all or nothing: every object is
 * checked as it streams in (ids, required fields, geometry, policies a zone references, which must be in the
 * import or in the project already); one error refuses the whole import. Accepted, it is appended as chunks
 * in one transaction that claims the command id, so a retried request imports once.
 */
export async function importCurbs(ctx: ServiceContext, meta: CommandMetadata, projectId: string, body: Readable): Promise<ImportSummary> {
  await assertProject(ctx, meta.organizationId, projectId);
  const importId = eventIdFor(meta.commandId, -1);
  const now = Date.parse(meta.now);
  const header: ImportHeader = { version: null, type: null };
  const objects: Record<CurbKind, CdsObject[]> = { zones: [], areas: [], spaces: [], objects: [], policies: [] };
  const zonePaths: string[] = [];
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  let errorCount = 0;
  let source: 'cds' | 'geojson' | null = null;
  const note = (list: FieldError[]) => {
    errorCount += list.length;
    if (errors.length < MAX_LISTED_ERRORS) errors.push(...list);
  };
  try {
    for await (const item of parseCurbImport(body, header)) {
      const kind: CurbKind = item.source === 'geojson' ? 'zones' : item.kind;
      if (source && source !== item.source) throw new HttpError(400, 'invalid_curb_data', 'a body is either a CDS Curbs payload (data.zones, …) or a GeoJSON FeatureCollection (features), not both');
      source = item.source;
      const value = item.source === 'geojson' ? zoneOfFeature(item.value, now) : item.value;
      const found: FieldError[] = [];
      if (!checkCurbObject(kind, value, item.path, found)) {
        note(found);
        continue;
      }
      const key = `${kind}:${value[kindRules[kind].id] as string}`;
      if (seen.has(key)) {
        note([{ path: `${item.path}/${kindRules[kind].id}`, message: `appears twice in this import` }]);
        continue;
      }
      seen.add(key);
      objects[kind].push(value);
      if (kind === 'zones') zonePaths.push(item.path);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(err as Error).message}`);
  }
  const cdsVersion = cdsVersionOf(header.version);
  if (!cdsVersion) throw new HttpError(400, 'unsupported_cds_version', `CDS version ${header.version} is not one we import (1.0, 1.1)`);
  if (source === 'geojson' && header.type !== 'FeatureCollection') throw new HttpError(400, 'invalid_curb_data', 'a GeoJSON body must be a FeatureCollection');
  // Every policy a zone names must be imported with it or known in the project already.
  const importedPolicies = new Set(objects.policies.map((p) => p['curb_policy_id'] as string));
  const known = new Map<string, boolean>();
  for (const [i, zone] of objects.zones.entries()) {
    for (const [j, policyId] of ((zone['curb_policy_ids'] as string[]) ?? []).entries()) {
      if (importedPolicies.has(policyId)) continue;
      if (!known.has(policyId)) known.set(policyId, (await ctx.readStore.get(curbCollections.policies, curbDocumentId(projectId, policyId))) !== null);
      if (!known.get(policyId)) note([{ path: `${zonePaths[i]!}/curb_policy_ids/${j}`, message: `zone ${zone['curb_zone_id'] as string} references unknown policy ${policyId}` }]);
    }
  }
  if (errorCount > 0) refuse(errors, errorCount, 'the import');
  const total = curbKinds.reduce((n, k) => n + objects[k].length, 0);
  if (total === 0) throw new HttpError(400, 'invalid_curb_data', 'the body holds no curb objects (data.zones, data.areas, data.spaces, data.objects, data.policies, or GeoJSON features)');

  // Policies first, so a reader of the log meets a policy before the zones that name it.
  const queue = [...(['policies', 'zones', 'areas', 'spaces', 'objects'] as const).flatMap((kind) => objects[kind].map((o) => [kind, o] as const))];
  const chunks = Math.ceil(queue.length / CHUNK);
  const events: NewEvent[] = [];
  for (let c = 0; c < chunks; c++) {
    const data = { importId, chunk: c, chunks, source: source!, cdsVersion, zones: [] as CdsObject[], areas: [] as CdsObject[], spaces: [] as CdsObject[], objects: [] as CdsObject[], policies: [] as CdsObject[] };
    for (const [kind, o] of queue.slice(c * CHUNK, (c + 1) * CHUNK)) data[kind].push(o);
    events.push(newEvent(meta, projectId, c, 'curbs.imported', data));
  }
  const counts = Object.fromEntries(curbKinds.map((k) => [k, objects[k].length])) as Record<CurbKind, number>;
  const replayed = await appendOnce(ctx, meta, curbStream(projectId), events);
  return { importId, source: source!, cdsVersion, counts, replayed };
}

function newEvent(meta: CommandMetadata, projectId: string, index: number, type: string, data: unknown): NewEvent {
  return { id: eventIdFor(meta.commandId, index), type, data, occurredAt: meta.now, organizationId: meta.organizationId, projectId, correlationId: meta.correlationId ?? meta.commandId, causationId: meta.causationId ?? meta.commandId };
}

/** Appends unless this command did already (its claim): true when it was a replay. Waits for the read models. */
async function appendOnce(ctx: ServiceContext, meta: CommandMetadata, streamId: string, events: NewEvent[]): Promise<boolean> {
  try {
    const result = await ctx.store.append(streamId, events, { expectedVersion: 'any', claims: [claimOf(meta)] });
    await ctx.waitForReadModels({ streamId, version: result.nextVersion, types: [...new Set(events.map((e) => e.type))], position: result.position });
    return false;
  } catch (err) {
    if (err instanceof ClaimConflictError) return true;
    throw err;
  }
}

/** Creates or replaces one zone; the policies it names must be in the project. */
export async function upsertZone(ctx: ServiceContext, meta: CommandMetadata, projectId: string, zoneId: string, body: unknown): Promise<{ zone: CdsObject; replayed: boolean }> {
  await assertProject(ctx, meta.organizationId, projectId);
  const now = Date.parse(meta.now);
  const given = body && typeof body === 'object' && !Array.isArray(body) ? (body as CdsObject) : null;
  const zone = given ? { published_date: now, start_date: now, ...given, curb_zone_id: given['curb_zone_id'] ?? zoneId, last_updated_date: given['last_updated_date'] ?? now } : body;
  const errors: FieldError[] = [];
  if (checkCurbObject('zones', zone, '', errors) && zone['curb_zone_id'] !== zoneId) errors.push({ path: '/curb_zone_id', message: `must equal the zone id of the path (${zoneId})` });
  if (errors.length === 0) {
    for (const [j, policyId] of ((zone as CdsObject)['curb_policy_ids'] as string[]).entries()) {
      if (!(await ctx.readStore.get(curbCollections.policies, curbDocumentId(projectId, policyId)))) errors.push({ path: `/curb_policy_ids/${j}`, message: `references unknown policy ${policyId}` });
    }
  }
  if (errors.length > 0) refuse(errors, errors.length, 'the zone');
  const replayed = await appendOnce(ctx, meta, curbStream(projectId), [newEvent(meta, projectId, 0, 'curbs.zone.upserted', { zone })]);
  return { zone: zone as CdsObject, replayed };
}

export async function deleteZone(ctx: ServiceContext, meta: CommandMetadata, projectId: string, zoneId: string): Promise<void> {
  await assertProject(ctx, meta.organizationId, projectId);
  if (!(await ctx.readStore.get(curbCollections.zones, curbDocumentId(projectId, zoneId)))) throw notFound('curb zone');
  await appendOnce(ctx, meta, curbStream(projectId), [newEvent(meta, projectId, 0, 'curbs.zone.deleted', { curbZoneId: zoneId })]);
}

/** Records CDS events (a CDS Events payload `{data: {events}}`, or an array), all or nothing. */
export async function recordCurbEvents(ctx: ServiceContext, meta: CommandMetadata, projectId: string, body: unknown): Promise<{ recorded: number; replayed: boolean }> {
  await assertProject(ctx, meta.organizationId, projectId);
  const list = Array.isArray(body) ? body : (body as { data?: { events?: unknown } } | null)?.data?.events;
  const base = Array.isArray(body) ? '' : '/data/events';
  if (!Array.isArray(list) || list.length === 0 || list.length > 1000) throw new HttpError(400, 'invalid_curb_data', 'send 1 to 1,000 CDS events, as {"data": {"events": [...]}} or as an array');
  const errors: FieldError[] = [];
  list.forEach((e, i) => checkCurbEvent(e, `${base}/${i}`, errors));
  if (errors.length > 0) refuse(errors, errors.length, 'the events');
  const replayed = await appendOnce(ctx, meta, curbEventStream(projectId), [newEvent(meta, projectId, 0, 'curbs.events.recorded', { events: list })]);
  return { recorded: list.length, replayed };
}
