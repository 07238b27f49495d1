import type { EventContract } from '../eventRegistry.ts';
import { instant, object, timeZone, uuid, type EventsOf, type SchemaType } from './common.ts';

/** The kinds of CDS Curbs objects a project's inventory holds (CDS's own names, plural as in `data`). */
export const curbKinds = ['zones', 'areas', 'spaces', 'objects', 'policies'] as const;
export type CurbKind = (typeof curbKinds)[number];

/**
 * CDS objects are kept as given (validated at the boundary against the CDS rules: see the export service's
 * cdsValidation), so an import exports back to the same content; the event schema only frames them.
 */
const cdsObjects = { type: 'array', items: { type: 'object' } } as const;

export const exportDatasets = ['zones', 'areas', 'spaces', 'objects', 'policies', 'events', 'sessions', 'aggregates', 'usage', 'invoices', 'payments'] as const;
export type ExportDataset = (typeof exportDatasets)[number];
export const exportFormats = ['json', 'ndjson', 'csv', 'cds'] as const;
export type ExportFormat = (typeof exportFormats)[number];

/** What an export was asked for, as recorded with its request (defaults filled in). */
export const exportRequestSchema = object({
  dataset: { enum: [...exportDatasets] },
  format: { enum: [...exportFormats] },
  projectId: { anyOf: [uuid, { type: 'null' }] },
  cdsVersion: { enum: ['1.0', '1.1'] },
  /** Dataset filters: bbox ([minLng, minLat, maxLng, maxLat]), from/to instants (events, usage, invoices, payments). */
  filters: {
    type: 'object',
    additionalProperties: false,
    properties: {
      bbox: { type: 'array', minItems: 4, maxItems: 4, items: { type: 'number' } },
      from: instant,
      to: instant,
      meter: { type: 'string' },
    },
  },
  changedSince: { anyOf: [instant, { type: 'null' }] },
  timeZone,
  compression: { enum: ['none', 'gzip'] },
});
export type ExportRequest = SchemaType<typeof exportRequestSchema>;

const manifest = object({
  rows: { type: 'integer', minimum: 0 },
  bytes: { type: 'integer', minimum: 0 },
  sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  /** The read model's checkpoint the snapshot was read at. */
  consistentAt: { type: ['string', 'null'] },
  /** Give this as changedSince to the next export to get only what changed after this one. */
  nextChangedSince: instant,
  fileName: { type: 'string' },
  contentType: { type: 'string' },
  contentEncoding: { type: ['string', 'null'] },
  /** When the artifact is deleted (retention). */
  expiresAt: instant,
});
export type ExportManifest = SchemaType<typeof manifest>;

/**
 * Curb inventories (stream curbs-<projectId>, curbevents-<projectId>) and export jobs (stream export-<jobId>,
 * exportschedule-<scheduleId>); types derived from the schemas.
 */
const exportEventSchemas = {
  /** A chunk of an import (imports are appended as chunks of at most 1,000 objects, all in one transaction). */
  'curbs.imported': object({
    importId: uuid,
    chunk: { type: 'integer', minimum: 0 },
    chunks: { type: 'integer', minimum: 1 },
    source: { enum: ['cds', 'geojson'] },
    cdsVersion: { enum: ['1.0', '1.1'] },
    zones: cdsObjects,
    areas: cdsObjects,
    spaces: cdsObjects,
    objects: cdsObjects,
    policies: cdsObjects,
  }),
  'curbs.zone.upserted': object({ zone: { type: 'object' } }),
  'curbs.zone.deleted': object({ curbZoneId: uuid }),
  /** How many zones a project maps after a change of its inventory (stream curbcount-<projectId>). */
  'curbs.inventory.counted': object({ zones: { type: 'integer', minimum: 0 } }),
  /** CDS events reported for a project (stream curbevents-<projectId>). */
  'curbs.events.recorded': object({ events: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'object' } } }),
  'export.job.requested': object({ jobId: uuid, request: exportRequestSchema, scheduleId: { anyOf: [uuid, { type: 'null' }] }, dueAt: { anyOf: [instant, { type: 'null' }] } }),
  'export.job.started': object({ attempt: { type: 'integer', minimum: 1 }, rowsTotal: { type: ['integer', 'null'], minimum: 0 } }),
  'export.job.progressed': object({ rowsDone: { type: 'integer', minimum: 0 }, rowsTotal: { type: ['integer', 'null'], minimum: 0 }, bytes: { type: 'integer', minimum: 0 } }),
  'export.job.completed': object({ manifest }),
  'export.job.failed': object({ reason: { type: 'string', minLength: 1 }, attempt: { type: 'integer', minimum: 1 } }),
  'export.artifact.deleted': object({ reason: { enum: ['retention'] } }),
  /** A recurring export (stream exportschedule-<scheduleId>). */
  'export.schedule.created': object({ scheduleId: uuid, cron: { type: 'string' }, timeZone, export: exportRequestSchema }),
  'export.schedule.deleted': object({ scheduleId: uuid }),
  /** A due time, recorded once: the run it starts is job `jobId`, whatever the restarts. */
  'export.schedule.ran': object({ scheduleId: uuid, dueAt: instant, jobId: uuid }),
};

export type ExportEvent = EventsOf<typeof exportEventSchemas>;
export type ExportJobCompleted = Extract<ExportEvent, { type: 'export.job.completed' }>;
export type CurbsImported = Extract<ExportEvent, { type: 'curbs.imported' }>;
export type CurbInventoryCounted = Extract<ExportEvent, { type: 'curbs.inventory.counted' }>;

export const exportContracts: EventContract[] = Object.entries(exportEventSchemas).map(([type, schema]) => ({ type, schema, schemaVersion: 1 }));
