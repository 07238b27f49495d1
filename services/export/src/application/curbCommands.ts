import { once } from 'node:events';
import { closeSync, createWriteStream, openSync, readSync, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { curbKinds, type CurbKind, type NewEvent } from '@curbmap/contracts';
import { ClaimConflictError, eventIdFor, type CommandMetadata, type StreamWrite } from '@curbmap/eventsourcing';
import { bulkPhaseEnded, countGarbage, HttpError, notFound, NotYetVisibleError, type ServiceContext } from '@curbmap/service-kit';
import { checkCurbEvent, checkCurbObject, kindRules, type CdsObject, type FieldError } from '../domain/curbs/cdsValidation.ts';
import { ImportLimitError, parseCurbImport, type ImportHeader } from '../domain/curbs/curbImportParser.ts';
import { curbCollections, curbDocumentId, curbEventStream, curbStream, directoryCollections, noCurbObjects } from '../projections/curbInventoryProjection.ts';

/** At most this many objects per stored event: an import of 100,000 zones is 100 events, appended at once. */
const CHUNK = 1000;
/** Under V8's large-object threshold (128 KiB), so the strings of a chunk's text die young. */
const PARSE_GROUP_CHARS = 64 * 1024;
/**
 * An import of more objects than this answers as soon as it is stored (202, with a status to poll): applying it
 * to the inventory takes seconds, and a client gains nothing by waiting on an open request for a part of them.
 */
export const IMPORT_WAIT_MAX_OBJECTS = 10_000;
/** Errors listed in a refusal; the count says how many there were in all. */
const MAX_LISTED_ERRORS = 100;

export interface ImportSummary {
  importId: string;
  source: 'cds' | 'geojson';
  cdsVersion: '1.0' | '1.1';
  counts: Record<CurbKind, number>;
  replayed: boolean;
  /** Policies zones name that are in neither the import nor the project (the first 100), and how many. */
  unresolvedPolicies: { policyId: string; path: string }[];
  unresolvedPolicyCount: number;
  /** Whether the inventory shows the import already (else it is applied in the background: poll its status). */
  applied: boolean;
}

const claimOf = (meta: CommandMetadata) => `curbs:${meta.organizationId}:${meta.commandId}`;
/** Claimed with an import's chunks: where in the log the import is, for its status before the inventory shows it. */
export const importClaim = (organizationId: string, projectId: string, importId: string) => `curbs-import:${organizationId}:${projectId}:${importId}`;

export async function assertProject(ctx: ServiceContext, organizationId: string, projectId: string): Promise<void> {
  const project = await ctx.readStore.get(directoryCollections.projects, projectId);
  if (!project || project.organizationId !== organizationId) throw notFound('project');
}

function refuse(errors: FieldError[], count: number, what: string): never {
  // Well-formed JSON whose CDS content cannot be taken (a ring not closed, coordinates outside WGS84…): 422.
  throw new HttpError(422, 'invalid_curb_data', `${what} was refused, nothing was written: ${count} error${count === 1 ? '' : 's'}; first: ${errors[0]!.path} ${errors[0]!.message}`, errors.slice(0, MAX_LISTED_ERRORS));
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
 * import or in the project already); one error refuses the whole import. Checked objects are staged on disk, one
 * file per kind, so memory holds neither the body nor its objects; accepted, the import is appended as chunks
 * read back one by one, in one transaction that claims the command id (a retried request imports once).
 */
export async function importCurbs(ctx: ServiceContext, meta: CommandMetadata, projectId: string, body: Readable, stagingDir: string): Promise<ImportSummary> {
  await assertProject(ctx, meta.organizationId, projectId);
  await mkdir(stagingDir, { recursive: true });
  const staging = await mkdtemp(join(stagingDir, 'import-'));
  try {
    return await stageAndAppend(ctx, meta, projectId, body, staging);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function stageAndAppend(ctx: ServiceContext, meta: CommandMetadata, projectId: string, body: Readable, staging: string): Promise<ImportSummary> {
  const importId = eventIdFor(meta.commandId, -1);
  const now = Date.parse(meta.now);
  const header: ImportHeader = { version: null, type: null };
  const files = Object.fromEntries(curbKinds.map((k) => [k, createWriteStream(join(staging, `${k}.ndjson`))])) as Record<CurbKind, WriteStream>;
  const counts = noCurbObjects();
  const seen = new Set<string>();
  const importedPolicies = new Set<string>();
  /** Each policy the zones name, with the first place it is named. */
  const namedPolicies = new Map<string, string>();
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
      if (source && source !== item.source) throw new HttpError(422, 'invalid_curb_data', 'a body is either a CDS Curbs payload (data.zones, …) or a GeoJSON FeatureCollection (features), not both');
      source = item.source;
      const value = item.source === 'geojson' ? zoneOfFeature(item.value, now) : item.value;
      const found: FieldError[] = [];
      if (!checkCurbObject(kind, value, item.path, found)) {
        note(found);
        continue;
      }
      const id = value[kindRules[kind].id] as string;
      if (seen.has(`${kind}:${id}`)) {
        note([{ path: `${item.path}/${kindRules[kind].id}`, message: `appears twice in this import` }]);
        continue;
      }
      seen.add(`${kind}:${id}`);
      if (kind === 'policies') importedPolicies.add(id);
      if (kind === 'zones') for (const [j, policyId] of ((value['curb_policy_ids'] as string[]) ?? []).entries()) if (!namedPolicies.has(policyId)) namedPolicies.set(policyId, `${item.path}/curb_policy_ids/${j}`);
      counts[kind] += 1;
      // A large import collects its garbage every 8 MB or so of JSON it parses and appends (countGarbage): left to
      // V8, an import of 100,000 zones peaked at 257 to 338 MB; so, at 225 to 240.
      countGarbage(item.text.length);
      // Staged as sent where it is one line (serialising it again cost a fifth of the import); else re-serialised.
      const line = item.source === 'cds' && !item.text.includes('\n') ? item.text : JSON.stringify(value);
      if (errorCount === 0 && !files[kind].write(`${line}\n`)) await once(files[kind], 'drain');
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (err instanceof ImportLimitError) throw new HttpError(422, 'invalid_curb_data', `the body is refused: ${err.message}`);
    throw new HttpError(400, 'invalid_json', `the body is not valid JSON: ${(err as Error).message}`);
  } finally {
    await Promise.all(curbKinds.map((k) => new Promise<void>((resolve) => files[k].end(resolve))));
  }
  // Not needed past the body, and would stay alive (this function's frame) through the append.
  seen.clear();
  const cdsVersion = cdsVersionOf(header.version);
  if (!cdsVersion) throw new HttpError(422, 'unsupported_cds_version', `CDS version ${header.version} is not one we import (1.0, 1.1)`);
  if (source === 'geojson' && header.type !== 'FeatureCollection') throw new HttpError(422, 'invalid_curb_data', 'a GeoJSON body must be a FeatureCollection');
  if (errorCount > 0) refuse(errors, errorCount, 'the import');
  // CDS serves zones and policies from separate endpoints, so a zones payload (the spec's own
  // curbs_01_curb_zones_minimum.json) names policies it does not hold. Such a zone is imported; the policies
  // neither in the import nor in the project are reported, to be imported later.
  const unresolvedPolicies: { policyId: string; path: string }[] = [];
  for (const [policyId, path] of namedPolicies) {
    if (importedPolicies.has(policyId)) continue;
    if (!(await ctx.readStore.get(curbCollections.policies, curbDocumentId(projectId, policyId)))) unresolvedPolicies.push({ policyId, path });
  }
  const total = curbKinds.reduce((n, k) => n + counts[k], 0);
  if (total === 0) throw new HttpError(422, 'invalid_curb_data', 'the body holds no curb objects (data.zones, data.areas, data.spaces, data.objects, data.policies, or GeoJSON features)');
  // Accepted: the body's garbage goes before the append makes its own.
  bulkPhaseEnded();

  const chunks = Math.ceil(total / CHUNK);
  // Policies first, so a reader of the log meets a policy before the zones that name it.
  function* events(): Generator<NewEvent> {
    let chunk = 0;
    let data = emptyChunk();
    let size = 0;
    function emptyChunk() {
      return { importId, chunk, chunks, source: source!, cdsVersion: cdsVersion!, zones: [] as CdsObject[], areas: [] as CdsObject[], spaces: [] as CdsObject[], objects: [] as CdsObject[], policies: [] as CdsObject[] };
    }
    // The lines of a chunk's kind are parsed a group at a time, in one JSON.parse call each (not one per line),
    // the group's text kept under V8's large-object size: such strings live in the old generation until a full
    // collection, and a chunk's worth of them each time made the import's peak memory.
    let lines: string[] = [];
    let text = 0;
    let chunkBytes = 0;
    const take = (kind: CurbKind) => {
      if (lines.length > 0) data[kind].push(...(JSON.parse(`[${lines.join(',')}]`) as CdsObject[]));
      lines = [];
      text = 0;
    };
    for (const kind of ['policies', 'zones', 'areas', 'spaces', 'objects'] as const) {
      for (const line of linesOf(join(staging, `${kind}.ndjson`))) {
        if (text + line.length > PARSE_GROUP_CHARS) take(kind);
        lines.push(line);
        text += line.length + 1;
        // Counted as read; the collection, at most one per chunk, comes once the chunk is appended (below).
        chunkBytes += line.length;
        if (++size === CHUNK) {
          take(kind);
          yield newEvent(meta, projectId, chunk, 'curbs.imported', data);
          chunk += 1;
          data = emptyChunk();
          size = 0;
          // A chunk's objects weigh about twice its text, and most outlive a scavenge.
          countGarbage(chunkBytes * 2);
          chunkBytes = 0;
        }
      }
      take(kind);
    }
    if (size > 0) yield newEvent(meta, projectId, chunk, 'curbs.imported', data);
  }
  // Stored, but the inventory does not show it yet: the answer still carries the summary (202).
  const { replayed, visible } = await appendOnce(ctx, meta, curbStream(projectId), events(), ['curbs.imported'], total <= IMPORT_WAIT_MAX_OBJECTS ? 'answer' : 'none', [importClaim(meta.organizationId, projectId, importId)]);
  return { importId, source: source!, cdsVersion, counts, replayed, unresolvedPolicies: unresolvedPolicies.slice(0, 100), unresolvedPolicyCount: unresolvedPolicies.length, applied: visible };
}

/** The lines of a file, read synchronously (inside a write transaction) 64 KiB at a time (young-generation strings). */
export function* linesOf(path: string): Generator<string> {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(PARSE_GROUP_CHARS);
    const decoder = new StringDecoder('utf8');
    // A line longer than a read (one object may be megabytes) is kept in pieces, joined once at its end: joined
    // to each read, it would be copied again every 64 KiB.
    let pieces: string[] = [];
    const line = (last: string) => {
      const whole = pieces.length > 0 ? pieces.join('') + last : last;
      pieces = [];
      return whole;
    };
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) {
      const text = decoder.write(buffer.subarray(0, n));
      let start = 0;
      for (let end = text.indexOf('\n'); end >= 0; start = end + 1, end = text.indexOf('\n', start)) {
        const whole = line(text.slice(start, end));
        if (whole) yield whole;
      }
      if (start < text.length) pieces.push(text.slice(start));
    }
    const rest = line(decoder.end());
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
}

function newEvent(meta: CommandMetadata, projectId: string, index: number, type: string, data: unknown): NewEvent {
  return { id: eventIdFor(meta.commandId, index), type, data, occurredAt: meta.now, organizationId: meta.organizationId, projectId, correlationId: meta.correlationId ?? meta.commandId, causationId: meta.causationId ?? meta.commandId };
}

/**
 * Appends unless this command did already (its claim): replayed when it had. Then waits for the read models to show
 * the append (the first one's, on a replay): a lag throws NotYetVisibleError (202 without a body), or with `answer`
 * only says so (the command answers 202 with its own body); `none` does not wait (a large import).
 */
async function appendOnce(ctx: ServiceContext, meta: CommandMetadata, streamId: string, events: Iterable<NewEvent>, types: string[], wait: 'throw' | 'answer' | 'none' = 'throw', otherClaims: string[] = []): Promise<{ replayed: boolean; visible: boolean }> {
  const visible = async (write: StreamWrite): Promise<boolean> => {
    if (wait === 'none') return false;
    try {
      await ctx.waitForReadModels(write);
      return true;
    } catch (err) {
      if (wait === 'answer' && err instanceof NotYetVisibleError) return false;
      throw err;
    }
  };
  const claimedAt = async () => (await ctx.store.claimed([claimOf(meta)])).get(claimOf(meta));
  const replay = async (position: string | undefined) => {
    const first = position === undefined ? null : await ctx.store.readAt(position);
    return { replayed: true, visible: first !== null && (await visible({ streamId: first.streamId, version: first.streamVersion, types, position: position! })) };
  };
  // Looked up first: a store may take the same event ids again as a no-op, and the answer would not say replayed.
  const done = await claimedAt();
  if (done !== undefined) return replay(done);
  try {
    const result = await ctx.store.append(streamId, events, { expectedVersion: 'any', claims: [claimOf(meta), ...otherClaims] });
    return { replayed: false, visible: await visible({ streamId, version: result.nextVersion, types, position: result.position }) };
  } catch (err) {
    if (!(err instanceof ClaimConflictError)) throw err;
    return replay(await claimedAt());
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
  const { replayed } = await appendOnce(ctx, meta, curbStream(projectId), [newEvent(meta, projectId, 0, 'curbs.zone.upserted', { zone })], ['curbs.zone.upserted']);
  return { zone: zone as CdsObject, replayed };
}

export async function deleteZone(ctx: ServiceContext, meta: CommandMetadata, projectId: string, zoneId: string): Promise<void> {
  await assertProject(ctx, meta.organizationId, projectId);
  if (!(await ctx.readStore.get(curbCollections.zones, curbDocumentId(projectId, zoneId)))) throw notFound('curb zone');
  await appendOnce(ctx, meta, curbStream(projectId), [newEvent(meta, projectId, 0, 'curbs.zone.deleted', { curbZoneId: zoneId })], ['curbs.zone.deleted']);
}

/** Records CDS events (a CDS Events payload `{data: {events}}`, or an array), all or nothing. */
export async function recordCurbEvents(ctx: ServiceContext, meta: CommandMetadata, projectId: string, body: unknown): Promise<{ recorded: number; replayed: boolean }> {
  await assertProject(ctx, meta.organizationId, projectId);
  const list = Array.isArray(body) ? body : (body as { data?: { events?: unknown } } | null)?.data?.events;
  const base = Array.isArray(body) ? '' : '/data/events';
  if (!Array.isArray(list) || list.length === 0 || list.length > 1000) throw new HttpError(422, 'invalid_curb_data', 'send 1 to 1,000 CDS events, as {"data": {"events": [...]}} or as an array');
  const errors: FieldError[] = [];
  list.forEach((e, i) => checkCurbEvent(e, `${base}/${i}`, errors));
  if (errors.length > 0) refuse(errors, errors.length, 'the events');
  const { replayed } = await appendOnce(ctx, meta, curbEventStream(projectId), [newEvent(meta, projectId, 0, 'curbs.events.recorded', { events: list })], ['curbs.events.recorded']);
  return { recorded: list.length, replayed };
}
