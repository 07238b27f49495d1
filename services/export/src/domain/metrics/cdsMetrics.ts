import { DateTime } from 'luxon';
import { eventTime, type CdsObject } from '../curbs/cdsValidation.ts';

/** CDS 1.1 Metrics API columns, exactly as the spec names them (sessions, then aggregates). */
export const sessionColumns = [
  'session_type',
  'event_session_id',
  'event_id_start',
  'event_id_end',
  'event_location_start_latitude',
  'event_location_start_longitude',
  'event_location_end_latitude',
  'event_location_end_longitude',
  'event_time_start',
  'event_time_end',
  'curb_zone_id',
  'curb_area_ids',
  'curb_space_id',
  'curb_object_id',
  'vehicle_length',
  'vehicle_type',
] as const;
export const aggregateColumns = ['curb_place_type', 'curb_place_id', 'metric_type', 'date', 'hour', 'value'] as const;

export type SessionRow = Record<(typeof sessionColumns)[number], string | number | null>;
export type AggregateRow = Record<(typeof aggregateColumns)[number], string | number>;

const STARTS: Record<string, 'parking' | 'area'> = { park_start: 'parking', enter_area: 'area' };
const ENDS: Record<string, 'parking' | 'area'> = { park_end: 'parking', leave_area: 'area' };

function location(event: CdsObject): [number, number] | null {
  const l = event['event_location'] as { type?: string; coordinates?: number[]; geometry?: { coordinates?: number[] } } | undefined;
  const c = l?.type === 'Feature' ? l.geometry?.coordinates : l?.coordinates;
  return Array.isArray(c) && c.length >= 2 ? [c[1]!, c[0]!] : null;
}

/** What ties an end event to its start: the session id when the source has one, else the vehicle at the place. */
function sessionKey(event: CdsObject, type: 'parking' | 'area'): string | null {
  if (typeof event['event_session_id'] === 'string') return `${type}|s|${event['event_session_id']}`;
  const vehicle = event['vehicle_id'] ?? event['vehicle_license_plate'];
  if (typeof vehicle !== 'string') return null;
  return `${type}|v|${vehicle}|${String(event['curb_zone_id'] ?? '')}|${String(event['curb_space_id'] ?? '')}`;
}

/**
 * Sessions from events read in time order: a park_start (enter_area) opens one, the park_end (leave_area) of the
 * same session closes it. Times are integer milliseconds, as the spec text has every timestamp (the spec's own
 * metrics example shows seconds). An end without a start, or a start never ended, makes no session.
 */
export class SessionBuilder {
  private readonly open = new Map<string, CdsObject>();

  push(event: CdsObject): SessionRow | null {
    const type = String(event['event_type']);
    const starts = STARTS[type];
    const ends = ENDS[type];
    if (!starts && !ends) return null;
    const key = sessionKey(event, (starts ?? ends)!);
    if (!key) return null;
    if (starts) {
      this.open.set(key, event);
      return null;
    }
    const start = this.open.get(key);
    if (!start) return null;
    this.open.delete(key);
    const [startLat, startLng] = location(start) ?? [null, null];
    const [endLat, endLng] = location(event) ?? [null, null];
    const areas = (start['curb_area_ids'] as string[] | undefined) ?? [];
    return {
      session_type: ends!,
      event_session_id: (start['event_session_id'] as string | undefined) ?? null,
      event_id_start: start['event_id'] as string,
      event_id_end: event['event_id'] as string,
      event_location_start_latitude: startLat,
      event_location_start_longitude: startLng,
      event_location_end_latitude: endLat,
      event_location_end_longitude: endLng,
      event_time_start: eventTime(start['event_time']),
      event_time_end: eventTime(event['event_time']),
      curb_zone_id: (start['curb_zone_id'] as string | undefined) ?? null,
      curb_area_ids: areas.length ? areas.join(';') : null,
      curb_space_id: (start['curb_space_id'] as string | undefined) ?? null,
      curb_object_id: (start['curb_object_id'] as string | undefined) ?? null,
      vehicle_length: (start['vehicle_length'] as number | undefined) ?? null,
      vehicle_type: (start['vehicle_type'] as string | undefined) ?? null,
    };
  }
}

interface Cell {
  events: number;
  sessions: number;
  dwellMinutes: number;
}

/**
 * Hourly aggregates per curb place (zone, space, area) in a time zone: total_events (events at the place in the
 * hour), total_sessions (sessions that began in the hour) and average_dwell_time (their mean length, minutes).
 */
export class AggregateBuilder {
  private readonly cells = new Map<string, Cell>();
  private readonly timeZone: string;

  constructor(timeZone: string) {
    this.timeZone = timeZone;
  }

  private places(event: CdsObject): [string, string][] {
    const out: [string, string][] = [];
    if (typeof event['curb_zone_id'] === 'string') out.push(['zone', event['curb_zone_id']]);
    if (typeof event['curb_space_id'] === 'string') out.push(['space', event['curb_space_id']]);
    for (const area of (event['curb_area_ids'] as string[] | undefined) ?? []) out.push(['area', area]);
    return out;
  }

  private cell(type: string, id: string, at: number): Cell {
    const local = DateTime.fromMillis(at, { zone: this.timeZone });
    const key = `${type}|${id}|${local.toISODate()}|${local.hour}`;
    let cell = this.cells.get(key);
    if (!cell) this.cells.set(key, (cell = { events: 0, sessions: 0, dwellMinutes: 0 }));
    return cell;
  }

  addEvent(event: CdsObject): void {
    const at = eventTime(event['event_time']);
    if (at === null) return;
    for (const [type, id] of this.places(event)) this.cell(type, id, at).events += 1;
  }

  addSession(session: SessionRow): void {
    const start = session.event_time_start as number | null;
    const end = session.event_time_end as number | null;
    if (start === null || end === null) return;
    const places: [string, string][] = [];
    if (session.curb_zone_id) places.push(['zone', String(session.curb_zone_id)]);
    if (session.curb_space_id) places.push(['space', String(session.curb_space_id)]);
    for (const area of session.curb_area_ids ? String(session.curb_area_ids).split(';') : []) places.push(['area', area]);
    for (const [type, id] of places) {
      const cell = this.cell(type, id, start);
      cell.sessions += 1;
      cell.dwellMinutes += Math.max(0, end - start) / 60_000;
    }
  }

  /** The rows, ordered by place, date and hour. */
  *rows(): Generator<AggregateRow> {
    for (const key of [...this.cells.keys()].sort()) {
      const [type, id, date, hour] = key.split('|') as [string, string, string, string];
      const cell = this.cells.get(key)!;
      const base = { curb_place_type: type, curb_place_id: id, date, hour: Number(hour) };
      yield { ...base, metric_type: 'total_events', value: cell.events };
      yield { ...base, metric_type: 'total_sessions', value: cell.sessions };
      if (cell.sessions > 0) yield { ...base, metric_type: 'average_dwell_time', value: Math.round((cell.dwellMinutes / cell.sessions) * 100) / 100 };
    }
  }
}
