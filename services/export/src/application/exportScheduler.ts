import { deterministicUuid, loadState, type CommandMetadata } from '@curbmap/eventsourcing';
import { HttpError, periodicPass, reactionMetadata, runCommand, type Running, type ServiceContext } from '@curbmap/service-kit';
import { dueTimes, scheduleDecider, scheduleStream, type ScheduleCommand, type ScheduleEvent } from '../domain/schedule/exportScheduleDecider.ts';
import { exportCollections } from '../projections/exportJobProjection.ts';
import type { ExportScheduleView } from '../projections/exportScheduleProjection.ts';
import { requestExport } from './exportCommands.ts';

export interface ExportScheduler extends Running {
  /** Records every due time up to `at` (default now); answers how many runs it recorded. */
  tick(at?: Date): Promise<number>;
}

/**
 * Schedules: a pass (every 30 s) records each due time of each active schedule as `export.schedule.ran`,
 * oldest first, catching up on what a downtime missed (the schedule's stream refuses a due time at or before
 * its last: each runs once, whatever the restarts and overlapping passes). A process then requests the export
 * of each recorded run, as job `jobId` (derived from schedule and due time): at least once, and once only.
 */
export function startExportScheduler(ctx: ServiceContext, intervalMs: number): ExportScheduler {
  const log = ctx.log.child({ component: 'export-scheduler' });
  const pass = periodicPass(
    async (at) => {
      let recorded = 0;
      for (const schedule of await ctx.readStore.find<ExportScheduleView>(exportCollections.schedules, { status: 'active' })) {
        for (const due of dueTimes(schedule.cron, schedule.timeZone, new Date(schedule.lastDueAt ?? schedule.createdAt), at)) {
          const dueAt = due.toISOString();
          const metadata: CommandMetadata = { commandId: `schedule-run:${schedule.id}:${dueAt}`, now: at.toISOString(), organizationId: schedule.organizationId };
          const command = { type: 'RecordRun', data: { dueAt, jobId: deterministicUuid(`export-schedule:${schedule.id}:${dueAt}`) }, metadata } as ScheduleCommand;
          const result = await runCommand(ctx, scheduleDecider, scheduleStream(schedule.id), command, { consistent: false });
          recorded += result.replayed ? 0 : result.events.length;
        }
      }
      if (recorded > 0) log.info({ recorded }, 'scheduled exports due');
      return recorded;
    },
    { intervalMs, now: ctx.now, onError: (err) => log.error({ err }, 'export schedule pass failed') },
  );
  const runs = ctx.subscriptions.subscribe('export.schedule-runs.v1', { types: ['export.schedule.ran'] }, async (batch) => {
    for (const stored of batch) {
      const ran = stored.data as Extract<ScheduleEvent, { type: 'export.schedule.ran' }>['data'];
      const state = await loadState(ctx.store, scheduleDecider, stored.streamId);
      if (state.status === 'none') continue;
      await requestExport(ctx, reactionMetadata(stored, 'schedule-export'), state.export, { scheduleId: ran.scheduleId, dueAt: ran.dueAt, jobId: ran.jobId }).catch((err) => {
        // A request that can no longer be made (a format refused since) fails this run only; anything else is retried.
        if (!(err instanceof HttpError) || err.status >= 500) throw err;
        log.error({ err, scheduleId: ran.scheduleId, dueAt: ran.dueAt }, 'scheduled export could not be requested');
      });
    }
  });
  return {
    tick: (at) => pass.tick(at),
    async stop() {
      await pass.stop();
      await runs.stop();
    },
  };
}
