import { DateTime } from 'luxon';

export interface Period {
  start: string;
  end: string;
}

function iso(dt: DateTime): string {
  return dt.toUTC().toISO({ suppressMilliseconds: false })!;
}

/**
 * The anchor of an annual subscription: local midnight, in the organization's time zone, of the day it starts.
 * Periods are whole local days, so a city's year runs from its own midnight to its own midnight.
 */
export function anchorFor(at: string, timeZone: string): string {
  const local = DateTime.fromISO(at, { zone: timeZone });
  if (!local.isValid) throw new Error(`invalid instant ${at} or time zone ${timeZone}`);
  return iso(local.startOf('day'));
}

/**
 * Period n (0-based) of an annual subscription. Every boundary is computed from the anchor, never from the
 * previous boundary, so an anchor on 29 February renews on 28 February in common years and on 29 February
 * again in leap years (as Stripe's billing_cycle_anchor does), and daylight-saving shifts never accumulate.
 */
export function annualPeriod(anchor: string, timeZone: string, n: number): Period {
  const local = DateTime.fromISO(anchor, { zone: timeZone });
  // The first instant of the local day: a day without a local midnight (America/Santiago on the day its clocks
  // jump from 24:00 to 01:00) starts at 01:00, and the anniversary of such an anchor starts at midnight again.
  const boundary = (years: number) => iso(local.plus({ years }).startOf('day'));
  return { start: boundary(n), end: boundary(n + 1) };
}
