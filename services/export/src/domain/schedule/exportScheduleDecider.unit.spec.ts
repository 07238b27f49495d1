import { describe, expect, it } from 'vitest';
import type { ExportRequest } from '@curbmap/contracts';
import { ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { dueTimes, scheduleDecider, type ScheduleCommand, type ScheduleEvent } from './exportScheduleDecider.ts';

const metadata: CommandMetadata = { commandId: 'c', now: '2027-05-10T12:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const scheduleId = '5c1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
const exportRequest: ExportRequest = { dataset: 'zones', format: 'cds', projectId: null, cdsVersion: '1.1', filters: {}, changedSince: null, timeZone: 'America/Chicago', compression: 'none' };
const create = (cron: string) => ({ type: 'CreateSchedule', data: { scheduleId, cron, timeZone: 'America/Chicago', export: exportRequest }, metadata }) as ScheduleCommand;
const created: ScheduleEvent = { type: 'export.schedule.created', data: { scheduleId, cron: '0 6 * * *', timeZone: 'America/Chicago', export: exportRequest } };
const run = (dueAt: string) => ({ type: 'RecordRun', data: { dueAt, jobId: '7a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' }, metadata }) as ScheduleCommand;
const ran = (dueAt: string): ScheduleEvent => ({ type: 'export.schedule.ran', data: { scheduleId, dueAt, jobId: '7a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' } });
const spec = deciderSpec(scheduleDecider);

describe('export schedule decider', () => {
  it('takes a five-field cron that runs at most every five minutes', () => {
    spec.given([]).when(create('0 6 * * *')).then([created]);
    spec.given([]).when(create('* * * * *')).thenThrows(ValidationError, /more often than every 5 minutes/);
    spec.given([]).when(create('0 6 * *')).thenThrows(ValidationError, /five-field/);
    spec.given([]).when(create('61 6 * * *')).thenThrows(ValidationError);
  });

  it('records each due time once, in order; a deleted schedule runs no more', () => {
    spec.given([created]).when(run('2027-05-11T11:00:00.000Z')).then([ran('2027-05-11T11:00:00.000Z')]);
    spec.given([created, ran('2027-05-11T11:00:00.000Z')]).when(run('2027-05-11T11:00:00.000Z')).then([]);
    spec.given([created, ran('2027-05-12T11:00:00.000Z')]).when(run('2027-05-11T11:00:00.000Z')).then([]);
    spec.given([created, { type: 'export.schedule.deleted', data: { scheduleId } }]).when(run('2027-05-13T11:00:00.000Z')).then([]);
  });

  it('reads due times in the schedule\'s zone, across a change of daylight saving time', () => {
    const due = dueTimes('0 6 * * *', 'America/Chicago', new Date('2027-11-06T00:00:00Z'), new Date('2027-11-08T23:00:00Z')).map((d) => d.toISOString());
    expect(due).toEqual(['2027-11-06T11:00:00.000Z', '2027-11-07T12:00:00.000Z', '2027-11-08T12:00:00.000Z']);
  });
});
