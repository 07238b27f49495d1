import { describe, it } from 'vitest';
import type { ExportManifest, ExportRequest } from '@curbmap/contracts';
import { IllegalStateError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { exportJobDecider, MAX_ATTEMPTS, type ExportJobCommand, type ExportJobEvent } from './exportJobDecider.ts';

const metadata: CommandMetadata = { commandId: 'c', now: '2027-05-10T12:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const jobId = '9a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
const request: ExportRequest = { dataset: 'zones', format: 'csv', projectId: null, cdsVersion: '1.1', filters: {}, changedSince: null, timeZone: 'UTC', compression: 'none' };
const manifest: ExportManifest = { rows: 1, bytes: 10, sha256: 'a'.repeat(64), consistentAt: '7', nextChangedSince: metadata.now, fileName: 'f.csv', contentType: 'text/csv', contentEncoding: null, expiresAt: metadata.now };
const cmd = <T extends ExportJobCommand['type']>(type: T, data: Extract<ExportJobCommand, { type: T }>['data']) => ({ type, data, metadata }) as ExportJobCommand;
const requested: ExportJobEvent = { type: 'export.job.requested', data: { jobId, request, scheduleId: null, dueAt: null } };
const started = (attempt: number): ExportJobEvent => ({ type: 'export.job.started', data: { attempt, rowsTotal: 1 } });
const spec = deciderSpec(exportJobDecider);

describe('export job decider', () => {
  it('is requested once: the same request again (a retry, a due time run twice) changes nothing', () => {
    spec.given([]).when(cmd('RequestExport', requested.data as never)).then([requested]);
    spec.given([requested]).when(cmd('RequestExport', requested.data as never)).then([]);
  });

  it('starts again with the next attempt after an interruption, and fails a job that keeps being interrupted', () => {
    spec.given([requested]).when(cmd('StartExport', { rowsTotal: 1 })).then([started(1)]);
    spec.given([requested, started(1)]).when(cmd('StartExport', { rowsTotal: 1 })).then([started(2)]);
    const attempts = Array.from({ length: MAX_ATTEMPTS }, (_, i) => started(i + 1));
    spec.given([requested, ...attempts]).when(cmd('StartExport', { rowsTotal: 1 })).then([{ type: 'export.job.failed', data: { reason: `interrupted ${MAX_ATTEMPTS} times; not retried`, attempt: MAX_ATTEMPTS } }]);
  });

  it('completes only a running job, once; a finished job is neither started nor failed again', () => {
    const completed: ExportJobEvent = { type: 'export.job.completed', data: { manifest } };
    spec.given([requested]).when(cmd('CompleteExport', { manifest })).thenThrows(IllegalStateError, /requested cannot complete/);
    spec.given([requested, started(1)]).when(cmd('CompleteExport', { manifest })).then([completed]);
    spec.given([requested, started(1), completed]).when(cmd('CompleteExport', { manifest })).then([]);
    spec.given([requested, started(1), completed]).when(cmd('StartExport', { rowsTotal: 1 })).then([]);
    spec.given([requested, started(1), completed]).when(cmd('FailExport', { reason: 'x' })).thenThrows(IllegalStateError);
    spec.given([requested, started(1), completed]).when(cmd('DeleteArtifact', {})).then([{ type: 'export.artifact.deleted', data: { reason: 'retention' } }]);
  });
});
