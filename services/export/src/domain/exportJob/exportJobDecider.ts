import type { ExportEvent, ExportManifest, ExportRequest } from '@curbmap/contracts';
import { IllegalStateError, type Command, type Decider } from '@curbmap/eventsourcing';

/** One export job (stream export-<jobId>): requested → started → progressed… → completed | failed. */
export const exportStream = (jobId: string) => `export-${jobId}`;

export type ExportJobEvent = Extract<ExportEvent, { type: `export.job.${string}` | 'export.artifact.deleted' }>;

export type ExportJobCommand =
  | Command<'RequestExport', { jobId: string; request: ExportRequest; scheduleId: string | null; dueAt: string | null }>
  | Command<'StartExport', { rowsTotal: number | null }>
  | Command<'ReportProgress', { rowsDone: number; rowsTotal: number | null; bytes: number }>
  | Command<'CompleteExport', { manifest: ExportManifest }>
  | Command<'FailExport', { reason: string }>
  | Command<'DeleteArtifact', Record<string, never>>;

export type ExportJob =
  | { status: 'none' }
  | { status: 'requested' | 'running'; request: ExportRequest; attempt: number }
  | { status: 'failed'; request: ExportRequest; attempt: number; reason: string }
  | { status: 'completed' | 'expired'; request: ExportRequest; attempt: number; manifest: ExportManifest };

/** How many times a job is started before it is failed for good (a crash loop must end). */
export const MAX_ATTEMPTS = 3;

export const exportJobDecider: Decider<ExportJobCommand, ExportJobEvent, ExportJob> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    switch (command.type) {
      case 'RequestExport':
        // The job id is the request's: a retried request (or a schedule's due time run twice) is the same job.
        return state.status === 'none' ? [{ type: 'export.job.requested', data: command.data }] : [];
      case 'StartExport':
        if (state.status !== 'requested' && state.status !== 'running') return [];
        // Started again after a crash: the attempt counts, and a job that keeps crashing fails.
        if (state.status === 'running' && state.attempt >= MAX_ATTEMPTS) return [{ type: 'export.job.failed', data: { reason: `interrupted ${state.attempt} times; not retried`, attempt: state.attempt } }];
        return [{ type: 'export.job.started', data: { attempt: state.status === 'running' ? state.attempt + 1 : 1, rowsTotal: command.data.rowsTotal } }];
      case 'ReportProgress':
        return state.status === 'running' ? [{ type: 'export.job.progressed', data: command.data }] : [];
      case 'CompleteExport':
        if (state.status === 'completed') return [];
        if (state.status !== 'running') throw new IllegalStateError(`an export that is ${state.status} cannot complete`);
        return [{ type: 'export.job.completed', data: command.data }];
      case 'FailExport':
        if (state.status === 'failed' || state.status === 'none') return [];
        if (state.status !== 'running' && state.status !== 'requested') throw new IllegalStateError(`an export that is ${state.status} cannot fail`);
        return [{ type: 'export.job.failed', data: { reason: command.data.reason, attempt: state.attempt } }];
      case 'DeleteArtifact':
        return state.status === 'completed' ? [{ type: 'export.artifact.deleted', data: { reason: 'retention' } }] : [];
      default: {
        const never: never = command;
        throw new Error(`unknown command ${(never as { type: string }).type}`);
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'export.job.requested':
        return { status: 'requested', request: event.data.request, attempt: 0 };
      case 'export.job.started':
        return state.status === 'none' ? state : { status: 'running', request: state.request, attempt: event.data.attempt };
      case 'export.job.progressed':
        return state;
      case 'export.job.completed':
        return state.status === 'none' ? state : { status: 'completed', request: state.request, attempt: state.attempt, manifest: event.data.manifest };
      case 'export.job.failed':
        return state.status === 'none' ? state : { status: 'failed', request: state.request, attempt: event.data.attempt, reason: event.data.reason };
      case 'export.artifact.deleted':
        return state.status === 'completed' ? { ...state, status: 'expired' } : state;
      default: {
        const never: never = event;
        throw new Error(`unknown event ${(never as { type: string }).type}`);
      }
    }
  },
};
