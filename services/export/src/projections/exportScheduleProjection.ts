import type { ExportEvent, ExportRequest } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection } from '@curbmap/eventsourcing';
import { exportCollections } from './exportJobProjection.ts';

export interface ExportScheduleView extends Document {
  cron: string;
  timeZone: string;
  export: ExportRequest;
  status: 'active' | 'deleted';
  /** The last due time run, and the export it started. */
  lastDueAt: string | null;
  lastJobId: string | null;
  createdAt: string;
}

export const exportScheduleProjection: Projection = {
  name: 'export.schedules.v1',
  filter: { categories: ['exportschedule'] },
  collections: [exportCollections.schedules],
  indexes: { [exportCollections.schedules]: ['status', 'createdAt'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as ExportEvent;
    const id = stored.streamId.slice('exportschedule-'.length);
    await updateOnce<ExportScheduleView>(tx, exportCollections.schedules, id, stored, (doc) => {
      switch (event.type) {
        case 'export.schedule.created':
          return { id, organizationId: stored.organizationId, cron: event.data.cron, timeZone: event.data.timeZone, export: event.data.export, status: 'active', lastDueAt: null, lastJobId: null, createdAt: stored.occurredAt };
        case 'export.schedule.deleted':
          return doc && { ...doc, status: 'deleted' };
        case 'export.schedule.ran':
          return doc && { ...doc, lastDueAt: event.data.dueAt, lastJobId: event.data.jobId };
        default:
          return null;
      }
    });
  },
};
