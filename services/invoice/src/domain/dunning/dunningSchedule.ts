import { DateTime } from 'luxon';
import type { InvoiceEvent } from '@curbmap/contracts';
import type { Command, Decider } from '@curbmap/eventsourcing';

/** An organization's payment reminder schedule (stream dunning-<orgId>), set by the platform operator. */
export const dunningStream = (organizationId: string) => `dunning-${organizationId}`;

/** Until the operator sets one: 7 days before the due date, on it, 7 and 14 days after. */
export const DEFAULT_DUNNING_DAYS: readonly number[] = [-7, 0, 7, 14];

/**
 * A reminder whose time passed longer ago than this is not sent: a platform that was down, or a schedule set
 * after the fact, does not remind of old invoices all at once (the latest reminder due goes, if still fresh).
 */
export const REMINDER_STALE_DAYS = 3;

export type DunningScheduleSet = Extract<InvoiceEvent, { type: 'invoice.dunning_schedule.set' }>;
export type SetDunningSchedule = Command<'SetDunningSchedule', { daysFromDue: number[] }>;

export const dunningScheduleDecider: Decider<SetDunningSchedule, DunningScheduleSet, { daysFromDue: number[] | null }> = {
  initialState: () => ({ daysFromDue: null }),
  decide(command, state) {
    const daysFromDue = [...new Set(command.data.daysFromDue)].sort((a, b) => a - b);
    // The same schedule again (a retried request) writes nothing.
    if (state.daysFromDue && state.daysFromDue.join() === daysFromDue.join()) return [];
    return [{ type: 'invoice.dunning_schedule.set', data: { daysFromDue } }];
  },
  evolve(_state, event) {
    return { daysFromDue: event.data.daysFromDue };
  },
};

/** The local hour a reminder goes: the start of a working day, wherever the organization is. */
export const REMINDER_LOCAL_HOUR = 9;

/**
 * When the reminder `days` from the due date goes: 09:00 in the organization's zone on the day that many days
 * of its calendar from the due date's day (an invoice is due at the end of its local day), as a city counts
 * "a week before" across a daylight-saving change.
 */
export function reminderAt(dueAt: string, days: number, timeZone: string): string {
  const due = DateTime.fromISO(dueAt, { zone: timeZone });
  if (!due.isValid) throw new Error(`invalid due date ${dueAt} or time zone ${timeZone}`);
  return due.startOf('day').plus({ days }).set({ hour: REMINDER_LOCAL_HOUR }).toUTC().toISO()!;
}

/** Each reminder of a schedule for an invoice due at `dueAt`, in time order. */
export function remindersOf(daysFromDue: readonly number[], dueAt: string, timeZone: string): { daysFromDue: number; at: string }[] {
  return [...daysFromDue].sort((a, b) => a - b).map((days) => ({ daysFromDue: days, at: reminderAt(dueAt, days, timeZone) }));
}

/**
 * Each reminder of a schedule for an invoice issued at `issuedAt` and due at `dueAt`, in time order: only those
 * after the issue (a net-7 invoice has no reminder a week before its due date; its own mail says when it is due).
 */
export function remindersFor(daysFromDue: readonly number[], issuedAt: string, dueAt: string, timeZone: string): { daysFromDue: number; at: string }[] {
  return remindersOf(daysFromDue, dueAt, timeZone).filter((r) => Date.parse(r.at) > Date.parse(issuedAt));
}

/** The reminder to send at `now`: the latest whose time has come, unless stale (REMINDER_STALE_DAYS); else null. */
export function reminderDue(daysFromDue: readonly number[], issuedAt: string, dueAt: string, timeZone: string, now: Date): { daysFromDue: number; at: string } | null {
  const passed = remindersFor(daysFromDue, issuedAt, dueAt, timeZone).filter((r) => Date.parse(r.at) <= now.getTime());
  const latest = passed.at(-1);
  if (!latest || now.getTime() - Date.parse(latest.at) > REMINDER_STALE_DAYS * 86_400_000) return null;
  return latest;
}
