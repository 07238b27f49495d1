import type { CurbKind } from '@curbmap/contracts';

/**
 * The rules an imported CDS object must meet before anything is written (CDS 1.0 and 1.1 Curbs API, the
 * spec text's required fields). Objects are kept as given otherwise, so they export back unchanged.
 */
export interface FieldError {
  path: string;
  message: string;
}

export type CdsObject = Record<string, unknown>;
export type Position = [number, number];
export type Geometry = { type: 'Polygon'; coordinates: Position[][] } | { type: 'LineString'; coordinates: Position[] } | { type: 'Point'; coordinates: Position };
export interface BBox {
  minLng: number;
  minLat: number;
  maxLng: number;
  maxLat: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);

/**
 * The id field of each kind, the fields the spec text requires, and the geometry it takes (CDS 1.1: a zone is a
 * Polygon, or a LineString; areas and spaces are Polygons; an object is a Point).
 */
export const kindRules: Record<CurbKind, { id: string; required: string[]; geometry: Geometry['type'][] }> = {
  zones: { id: 'curb_zone_id', required: ['geometry', 'curb_policy_ids', 'published_date', 'last_updated_date', 'start_date'], geometry: ['Polygon', 'LineString'] },
  areas: { id: 'curb_area_id', required: ['geometry', 'published_date', 'last_updated_date', 'curb_zone_ids'], geometry: ['Polygon'] },
  spaces: { id: 'curb_space_id', required: ['geometry', 'published_date', 'last_updated_date', 'curb_zone_id'], geometry: ['Polygon'] },
  objects: { id: 'curb_object_id', required: ['geometry', 'object_type', 'name', 'published_date', 'last_updated_date'], geometry: ['Point'] },
  policies: { id: 'curb_policy_id', required: ['published_date', 'priority', 'rules'], geometry: [] },
};

const TIMESTAMPS = ['published_date', 'last_updated_date', 'start_date', 'end_date'];
const UUID_LISTS = ['curb_policy_ids', 'curb_zone_ids', 'curb_area_ids', 'curb_space_ids', 'curb_object_ids', 'prev_curb_zone_ids'];
const UUID_FIELDS = ['curb_zone_id', 'curb_space_id', 'curb_policy_id'];

const isTimestamp = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Checks one object of a kind; errors name the field under `path` (e.g. `/data/zones/17/geometry`). */
export function checkCurbObject(kind: CurbKind, value: unknown, path: string, errors: FieldError[]): value is CdsObject {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    errors.push({ path, message: 'must be an object' });
    return false;
  }
  const obj = value as CdsObject;
  const rules = kindRules[kind];
  const before = errors.length;
  if (!isUuid(obj[rules.id])) errors.push({ path: `${path}/${rules.id}`, message: obj[rules.id] === undefined ? 'is required' : 'must be a UUID' });
  for (const field of rules.required) if (obj[field] === undefined) errors.push({ path: `${path}/${field}`, message: 'is required' });
  for (const field of TIMESTAMPS) if (obj[field] !== undefined && !isTimestamp(obj[field])) errors.push({ path: `${path}/${field}`, message: 'must be a timestamp (integer milliseconds since 1970)' });
  for (const field of UUID_LISTS) {
    const list = obj[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) errors.push({ path: `${path}/${field}`, message: 'must be an array of UUIDs' });
    else list.forEach((id, i) => void (isUuid(id) || errors.push({ path: `${path}/${field}/${i}`, message: 'must be a UUID' })));
  }
  for (const field of UUID_FIELDS) if (field !== rules.id && obj[field] !== undefined && !isUuid(obj[field])) errors.push({ path: `${path}/${field}`, message: 'must be a UUID' });
  if (kind === 'objects' && obj['curb_zone_id'] === undefined && obj['curb_space_id'] === undefined) errors.push({ path: `${path}/curb_zone_id`, message: 'an object is placed in a zone or a space: curb_zone_id or curb_space_id is required' });
  if (kind === 'policies') {
    if (obj['priority'] !== undefined && !(typeof obj['priority'] === 'number' && Number.isInteger(obj['priority']))) errors.push({ path: `${path}/priority`, message: 'must be an integer' });
    if (obj['rules'] !== undefined && (!Array.isArray(obj['rules']) || obj['rules'].length === 0)) errors.push({ path: `${path}/rules`, message: 'must be a non-empty array of rules' });
  }
  if (rules.geometry.length > 0 && obj['geometry'] !== undefined) checkGeometry(obj['geometry'], `${path}/geometry`, errors, rules.geometry);
  return errors.length === before;
}

/** What is wrong with a position, or null. Its path is made only for an error (a zone has a dozen positions). */
function positionError(p: unknown): string | null {
  if (!Array.isArray(p) || p.length < 2 || p.length > 3 || !p.every((n) => typeof n === 'number' && Number.isFinite(n))) return 'must be a position [longitude, latitude]';
  const [lng, lat] = p as number[];
  if (lng! < -180 || lng! > 180 || lat! < -90 || lat! > 90) return `coordinates [${lng}, ${lat}] are outside WGS84 (longitude −180…180, latitude −90…90)`;
  return null;
}

function checkPosition(p: unknown, path: string, index: number | null, errors: FieldError[]): boolean {
  const message = positionError(p);
  if (message) errors.push({ path: index === null ? path : `${path}/${index}`, message });
  return message === null;
}

/** RFC 7946 geometry in WGS84: a Polygon's rings are closed and have at least four positions. */
export function checkGeometry(value: unknown, path: string, errors: FieldError[], types: Geometry['type'][]): boolean {
  const g = value as { type?: unknown; coordinates?: unknown } | null;
  if (!g || typeof g !== 'object' || !types.includes(g.type as Geometry['type'])) {
    errors.push({ path: `${path}/type`, message: `must be a GeoJSON ${types.join(' or ')}` });
    return false;
  }
  const before = errors.length;
  const c = g.coordinates;
  if (g.type === 'Point') checkPosition(c, `${path}/coordinates`, null, errors);
  else if (g.type === 'LineString') {
    if (!Array.isArray(c) || c.length < 2) errors.push({ path: `${path}/coordinates`, message: 'a LineString needs at least two positions' });
    else c.forEach((p, i) => checkPosition(p, `${path}/coordinates`, i, errors));
  } else {
    if (!Array.isArray(c) || c.length === 0) errors.push({ path: `${path}/coordinates`, message: 'a Polygon needs at least one linear ring' });
    else
      c.forEach((ring, r) => {
        const at = `${path}/coordinates/${r}`;
        if (!Array.isArray(ring) || ring.length < 4) return void errors.push({ path: at, message: 'a linear ring needs at least four positions' });
        if (!ring.every((p, i) => checkPosition(p, at, i, errors))) return;
        const first = ring[0] as number[];
        const last = ring[ring.length - 1] as number[];
        if (first[0] !== last[0] || first[1] !== last[1]) errors.push({ path: at, message: 'polygon ring is not closed: its last position must equal its first' });
      });
  }
  return errors.length === before;
}

/** The bounding box of a valid geometry (bbox queries of the live feed). */
export function bboxOf(geometry: Geometry): BBox {
  const box = { minLng: Infinity, minLat: Infinity, maxLng: -Infinity, maxLat: -Infinity };
  const add = (p: Position) => {
    if (p[0] < box.minLng) box.minLng = p[0];
    if (p[0] > box.maxLng) box.maxLng = p[0];
    if (p[1] < box.minLat) box.minLat = p[1];
    if (p[1] > box.maxLat) box.maxLat = p[1];
  };
  if (geometry.type === 'Point') add(geometry.coordinates);
  else if (geometry.type === 'LineString') geometry.coordinates.forEach(add);
  else for (const ring of geometry.coordinates) ring.forEach(add);
  return box;
}

/** Checks a CDS event (Events API): ids, required fields; times are integer milliseconds (or, as the spec's own example has them, numeric strings). */
export function checkCurbEvent(value: unknown, path: string, errors: FieldError[]): value is CdsObject {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    errors.push({ path, message: 'must be an object' });
    return false;
  }
  const e = value as CdsObject;
  const before = errors.length;
  if (!isUuid(e['event_id'])) errors.push({ path: `${path}/event_id`, message: e['event_id'] === undefined ? 'is required' : 'must be a UUID' });
  for (const field of ['event_type', 'data_source_type', 'data_source_device_id']) if (typeof e[field] !== 'string' || e[field] === '') errors.push({ path: `${path}/${field}`, message: 'is required (a string)' });
  for (const field of ['event_time', 'event_publication_time']) if (eventTime(e[field]) === null) errors.push({ path: `${path}/${field}`, message: 'is required (integer milliseconds since 1970)' });
  for (const field of ['curb_zone_id', 'curb_space_id', 'curb_object_id', 'event_session_id']) if (e[field] !== undefined && !isUuid(e[field])) errors.push({ path: `${path}/${field}`, message: 'must be a UUID' });
  const location = e['event_location'] as { type?: string; geometry?: unknown } | undefined;
  if (location !== undefined) checkGeometry(location?.type === 'Feature' ? location.geometry : location, `${path}/event_location`, errors, ['Point']);
  return errors.length === before;
}

/** An event time as milliseconds: an integer, or a string of digits (the CDS 1.0 example's form). */
export function eventTime(v: unknown): number | null {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
  return null;
}
