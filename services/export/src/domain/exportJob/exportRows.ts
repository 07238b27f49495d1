import type { CurbKind } from '@curbmap/contracts';
import { eventTime, type CdsObject, type Geometry, type Position } from '../curbs/cdsValidation.ts';

/** Columns of each curb kind's CSV: the CDS 1.1 field names, in the spec's order, after the project. */
export const curbCsvColumns: Record<CurbKind | 'events', string[]> = {
  zones: ['curb_zone_id', 'geometry', 'name', 'description', 'user_zone_id', 'street_name', 'cross_street_start_name', 'cross_street_end_name', 'curb_policy_ids', 'published_date', 'last_updated_date', 'start_date', 'end_date', 'length', 'width', 'available', 'available_spaces', 'jurisdiction_type', 'owner_name', 'address_number', 'parking_angle', 'num_spaces', 'street_side', 'median', 'entire_roadway', 'curb_area_ids', 'curb_space_ids', 'curb_object_ids', 'prev_curb_zone_ids'],
  areas: ['curb_area_id', 'geometry', 'name', 'published_date', 'last_updated_date', 'curb_zone_ids'],
  spaces: ['curb_space_id', 'geometry', 'name', 'space_number', 'curb_zone_id', 'curb_object_ids', 'published_date', 'last_updated_date', 'length', 'width', 'available'],
  objects: ['curb_object_id', 'geometry', 'object_type', 'name', 'description', 'curb_zone_id', 'curb_space_id', 'curb_policy_id', 'lane_type', 'owner', 'operator', 'published_date', 'last_updated_date'],
  policies: ['curb_policy_id', 'name', 'description', 'published_date', 'priority', 'rules', 'time_spans', 'data_source_operator_id', 'policy_color'],
  events: ['event_id', 'event_type', 'event_purpose', 'event_location', 'event_time', 'event_publication_time', 'event_session_id', 'curb_zone_id', 'curb_area_ids', 'curb_space_id', 'curb_object_id', 'data_source_type', 'data_source_operator_id', 'data_source_device_id', 'vehicle_id', 'vehicle_length', 'vehicle_type'],
};

const n = (v: number) => String(v);
const pos = (p: Position) => `${n(p[0])} ${n(p[1])}`;

/** Well-known text of a GeoJSON geometry (OGC 06-103), the way GIS tools read geometry from CSV. */
export function toWkt(geometry: Geometry): string {
  switch (geometry.type) {
    case 'Point':
      return `POINT (${pos(geometry.coordinates)})`;
    case 'LineString':
      return `LINESTRING (${geometry.coordinates.map(pos).join(', ')})`;
    case 'Polygon':
      return `POLYGON (${geometry.coordinates.map((ring) => `(${ring.map(pos).join(', ')})`).join(', ')})`;
    default: {
      const never: never = geometry;
      throw new Error(`unsupported geometry ${(never as { type: string }).type}`);
    }
  }
}

/**
 * A cell a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) is prefixed with
 * an apostrophe (OWASP CSV injection); numbers are left as numbers.
 */
export function neutralise(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/** One CSV cell of a CDS field: geometry as WKT, lists of scalars joined with `;`, structures as JSON. */
export function csvCell(field: string, value: unknown): string | number | boolean {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return neutralise(value);
  if (field === 'geometry' || field === 'event_location') {
    const g = value as { type?: string; geometry?: Geometry };
    return toWkt((g.type === 'Feature' ? g.geometry : value) as Geometry);
  }
  if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) return neutralise(value.join(';'));
  return neutralise(JSON.stringify(value));
}

/**
 * An event as CDS 1.1 has it: times are integer milliseconds, `event_location` a GeoJSON Point and lengths
 * integers (the spec's examples carry numeric strings and a Feature; we keep what was sent and convert on the
 * way out).
 */
export function cds11Event(event: CdsObject): CdsObject {
  const out: CdsObject = { ...event };
  for (const field of ['event_time', 'event_publication_time']) {
    const t = eventTime(event[field]);
    if (t !== null) out[field] = t;
  }
  const location = event['event_location'] as { type?: string; geometry?: unknown } | undefined;
  if (location?.type === 'Feature') out['event_location'] = location.geometry;
  // Lengths are integer centimetres (the spec's fleet example sends "670").
  if (typeof event['vehicle_length'] === 'string' && /^\d{1,9}$/.test(event['vehicle_length'])) out['vehicle_length'] = Number(event['vehicle_length']);
  return out;
}
