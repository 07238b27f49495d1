import { Cron } from 'croner';
import type { ExportEvent, ExportRequest } from '@curbmap/contracts';
import { IllegalStateError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** A recurring export (stream exportschedule-<scheduleId>). */
export const scheduleStream = (scheduleId: string) => `exportschedule-${scheduleId}`;

export type ScheduleEvent = Extract<ExportEvent, { type: `export.schedule.${string}` }>;
export type ScheduleCommand =
  | Command<'CreateSchedule', { scheduleId: string; cron: string; timeZone: string; export: ExportRequest }>
  | Command<'DeleteSchedule', Record<string, never>>
  | Command<'RecordRun', { dueAt: string; jobId: string }>;

export type Schedule =
  | { status: 'none' }
  | { status: 'active' | 'deleted'; scheduleId: string; cron: string; timeZone: string; export: ExportRequest; lastDueAt: string | null };

/** Runs closer together than this are refused: a schedule is not a polling loop. */
export const MIN_INTERVAL_MS = 5 * 60_000;

/** A standard five-field cron expression, read in an IANA zone (croner: DST gaps and repeats handled). */
export function cronOf(expression: string, timeZone: string): Cron {
  try {
    return new Cron(expression, { timezone: timeZone, mode: '5-part', paused: true });
  } catch (err) {
    throw new ValidationError(`cron "${expression}" is not a five-field cron expression: ${(err as Error).message}`);
  }
}

/** The due times after `after` up to and including `until`, oldest first (at most `limit`). */
export function dueTimes(expression: string, timeZone: string, after: Date, until: Date, limit = 100): Date[] {
  const cron = cronOf(expression, timeZone);
  const due: Date[] = [];
  let next = cron.nextRun(after);
  while (next && next.getTime() <= until.getTime() && due.length < limit) {
    due.push(next);
    next = cron.nextRun(next);
  }
  return due;
}

export const scheduleDecider: Decider<ScheduleCommand, ScheduleEvent, Schedule> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateSchedule': {
        if (state.status !== 'none') return [];
        const { cron, timeZone } = command.data;
        const [a, b, c] = cronOf(cron, timeZone).nextRuns(3, new Date(command.metadata.now));
        if (!a || !b) throw new ValidationError(`cron "${cron}" never runs again`);
        if (b.getTime() - a.getTime() < MIN_INTERVAL_MS || (c && c.getTime() - b.getTime() < MIN_INTERVAL_MS)) throw new ValidationError(`cron "${cron}" runs more often than every ${MIN_INTERVAL_MS / 60_000} minutes`);
        return [{ type: 'export.schedule.created', data: command.data }];
      }
      case 'DeleteSchedule':
        if (state.status === 'none') throw new IllegalStateError('no such schedule');
        return state.status === 'deleted' ? [] : [{ type: 'export.schedule.deleted', data: { scheduleId: state.scheduleId } }];
      case 'RecordRun':
        // Each due time runs once: one at or before the last recorded is a repeat (a restart, a second pass).
        if (state.status !== 'active') return [];
        if (state.lastDueAt && Date.parse(command.data.dueAt) <= Date.parse(state.lastDueAt)) return [];
        return [{ type: 'export.schedule.ran', data: { scheduleId: state.scheduleId, ...command.data } }];
      default: {
        const never: never = command;
        throw new Error(`unknown command ${(never as { type: string }).type}`);
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'export.schedule.created':
        return { status: 'active', ...event.data, lastDueAt: null };
      case 'export.schedule.deleted':
        return state.status === 'none' ? state : { ...state, status: 'deleted' };
      case 'export.schedule.ran':
        return state.status === 'none' ? state : { ...state, lastDueAt: event.data.dueAt };
      default: {
        const never: never = event;
        throw new Error(`unknown event ${(never as { type: string }).type}`);
      }
    }
  },
};
