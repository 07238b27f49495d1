import type { ExportEvent, ExportManifest, ExportRequest } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection } from '@curbmap/eventsourcing';

export const exportCollections = { jobs: 'export_jobs', schedules: 'export_schedules' } as const;

export interface ExportJobView extends Document {
  status: 'requested' | 'running' | 'completed' | 'failed' | 'expired';
  request: ExportRequest;
  scheduleId: string | null;
  attempt: number;
  rowsDone: number;
  rowsTotal: number | null;
  bytes: number;
  manifest: ExportManifest | null;
  failureReason: string | null;
  requestedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

/** A job as its request makes it (the read model's first state; an answer while the read model lags). */
export function requestedJob(jobId: string, organizationId: string, data: { request: ExportRequest; scheduleId: string | null }, at: string): ExportJobView {
  return { id: jobId, organizationId, status: 'requested', request: data.request, scheduleId: data.scheduleId, attempt: 0, rowsDone: 0, rowsTotal: null, bytes: 0, manifest: null, failureReason: null, requestedAt: at, startedAt: null, finishedAt: null, updatedAt: at };
}

/** Export jobs as their owners see them: status, progress, manifest. */
export const exportJobProjection: Projection = {
  name: 'export.jobs.v1',
  filter: { categories: ['export'] },
  collections: [exportCollections.jobs],
  indexes: { [exportCollections.jobs]: ['status', 'requestedAt'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as ExportEvent;
    const jobId = stored.streamId.slice('export-'.length);
    const at = stored.occurredAt;
    await updateOnce<ExportJobView>(tx, exportCollections.jobs, jobId, stored, (job) => {
      if (event.type === 'export.job.requested') {
        return requestedJob(jobId, stored.organizationId!, event.data, at);
      }
      if (!job) return null;
      switch (event.type) {
        case 'export.job.started':
          return { ...job, status: 'running', attempt: event.data.attempt, rowsDone: 0, rowsTotal: event.data.rowsTotal, bytes: 0, startedAt: at, updatedAt: at };
        case 'export.job.progressed':
          return { ...job, rowsDone: event.data.rowsDone, rowsTotal: event.data.rowsTotal, bytes: event.data.bytes, updatedAt: at };
        case 'export.job.completed':
          return { ...job, status: 'completed', manifest: event.data.manifest, rowsDone: event.data.manifest.rows, rowsTotal: event.data.manifest.rows, bytes: event.data.manifest.bytes, finishedAt: at, updatedAt: at };
        case 'export.job.failed':
          return { ...job, status: 'failed', failureReason: event.data.reason, attempt: event.data.attempt, finishedAt: at, updatedAt: at };
        case 'export.artifact.deleted':
          return { ...job, status: 'expired', updatedAt: at };
        default:
          return null;
      }
    });
  },
};
