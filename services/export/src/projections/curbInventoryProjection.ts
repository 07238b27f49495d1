import { curbKinds, type CurbKind, type ExportEvent, type OrganizationCreated, type ProjectCreated } from '@curbmap/contracts';
import { alreadyApplied, dataTextOf, rememberJsonText, topLevelArrayItems, updateOnce, type AppliedVersions, type Document, type Filter, type Projection, type ReadStoreTx, type StoredEvent } from '@curbmap/eventsourcing';
import { bboxOf, eventTime, kindRules, type BBox, type CdsObject, type Geometry } from '../domain/curbs/cdsValidation.ts';

export const curbCollections: Record<CurbKind | 'events', string> = {
  zones: 'curb_zones',
  areas: 'curb_areas',
  spaces: 'curb_spaces',
  objects: 'curb_objects',
  policies: 'curb_policies',
  events: 'curb_events',
};
/** Each import's progress: how many of its chunks the inventory has applied. */
export const curbImportsCollection = 'curb_imports';
/** Each project's objects per kind, kept with them: a count is one read, not a scan of the inventory. */
export const curbCountsCollection = 'curb_counts';
export const directoryCollections = { organizations: 'export_organizations', projects: 'export_projects' } as const;

/** One CDS object of a project, as imported; id `<projectId>:<CDS id>` (a CDS id is unique within its project). */
export interface CurbDocument extends Document, Partial<BBox> {
  projectId: string;
  cdsId: string;
  /** CDS `last_updated_date` (events: `event_publication_time`), in ms: what incremental exports select on. */
  lastUpdated: number;
  /** Events: `event_time` in ms (start_time/end_time of the feed). */
  time?: number;
  cds: CdsObject;
}

/** An import as the inventory has applied it so far; id `<projectId>:<importId>`. */
export interface CurbImportView extends Document {
  projectId: string;
  importId: string;
  chunks: number;
  appliedChunks: number;
  /** The chunks applied (their `chunk` index): each counts once, in whatever order they come. */
  appliedIndexes: number[];
  /** Objects applied so far, per kind. */
  counts: Record<CurbKind, number>;
}

/** A project's objects per kind as the inventory holds them; id `<projectId>`. */
export interface CurbCountsView extends Document {
  projectId: string;
  counts: Record<CurbKind, number>;
}

/** No object of any kind: where an import's counts start. */
export const noCurbObjects = () => Object.fromEntries(curbKinds.map((k) => [k, 0])) as Record<CurbKind, number>;

/** An import's status as its chunks applied say: none yet, some, or all. */
export const importStatus = (chunks: number, appliedChunks: number) => (appliedChunks === 0 ? 'pending' : appliedChunks >= chunks ? 'applied' : 'applying');

export interface ExportOrganizationView extends Document {
  name: string;
  currency: string;
  timeZone: string;
}

export const curbDocumentId = (projectId: string, cdsId: string) => `${projectId}:${cdsId}`;
/**
 * A project's curb documents, by their ids' prefix (`;` follows `:`): the id's index serves it, in id order, where a
 * projectId index would be one more B-tree for every document to go into at random.
 */
export const inProject = (projectId: string): Filter => ({ id: { $gte: `${projectId}:`, $lt: `${projectId};` } });
export const curbStream = (projectId: string) => `curbs-${projectId}`;
export const curbEventStream = (projectId: string) => `curbevents-${projectId}`;

function curbDocument(organizationId: string, projectId: string, kind: CurbKind, cds: CdsObject): CurbDocument {
  const cdsId = cds[kindRules[kind].id] as string;
  const doc: CurbDocument = { id: curbDocumentId(projectId, cdsId), organizationId, projectId, cdsId, lastUpdated: Number(cds['last_updated_date'] ?? cds['published_date'] ?? 0), cds };
  if (cds['geometry']) Object.assign(doc, bboxOf(cds['geometry'] as Geometry));
  return doc;
}

/**
 * Each project's curb inventory as documents per kind; a later import or upsert of the same CDS id replaces
 * the object, a delete removes it. Idempotent per document (redelivered events change nothing).
 */
export const curbInventoryProjection: Projection = {
  // v2: each project's counts (curb_counts), built from the log on upgrade.
  name: 'export.curb_inventory.v2',
  filter: { categories: ['curbs', 'curbevents'] },
  // An import chunk carries up to 1,000 objects: a few chunks per transaction keep memory flat.
  batchSize: 4,
  collections: [...Object.values(curbCollections), curbImportsCollection, curbCountsCollection],
  // A project is an id prefix (inProject) and a CDS id a get: only incremental exports and the events' hours need more.
  indexes: Object.fromEntries(Object.values(curbCollections).map((c) => [c, c === curbCollections.events ? ['lastUpdated', 'time'] : ['lastUpdated']])),
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as ExportEvent;
    const projectId = stored.projectId!;
    // Objects this event added (+1) or removed (−1) per kind, kept in the project's counts once the event is applied.
    const added = noCurbObjects();
    const put = async (kind: CurbKind, cds: CdsObject) => {
      const doc = curbDocument(stored.organizationId, projectId, kind, cds);
      await updateOnce<CurbDocument>(tx, curbCollections[kind], doc.id, stored, (current) => {
        if (!current) added[kind]++;
        return doc;
      });
    };
    // No watermark of its own: each object's arrival or removal is counted once, with the object's own write (a
    // parked event retried after later ones still counts the objects it adds).
    const count = async () => {
      if (curbKinds.every((k) => added[k] === 0)) return;
      const current = await tx.get<CurbCountsView>(curbCountsCollection, projectId);
      const counts = current?.counts ?? noCurbObjects();
      for (const kind of curbKinds) counts[kind] += added[kind];
      await tx.put(curbCountsCollection, { id: projectId, organizationId: stored.organizationId, projectId, counts });
    };
    switch (event.type) {
      case 'curbs.imported': {
        rememberItemTexts(stored, event.data);
        for (const kind of curbKinds) for (const cds of event.data[kind]) await put(kind, cds);
        await count();
        const { importId, chunks, chunk } = event.data;
        const id = curbDocumentId(projectId, importId);
        // By chunk index, not the stream's version: a parked chunk retried after later ones still counts, once.
        const current = await tx.get<CurbImportView>(curbImportsCollection, id);
        if (current?.appliedIndexes.includes(chunk)) return;
        const counts = current?.counts ?? noCurbObjects();
        for (const kind of curbKinds) counts[kind] += event.data[kind].length;
        const appliedIndexes = [...(current?.appliedIndexes ?? []), chunk];
        return tx.put(curbImportsCollection, { id, organizationId: stored.organizationId, projectId, importId, chunks, appliedChunks: appliedIndexes.length, appliedIndexes, counts });
      }
      case 'curbs.zone.upserted':
        await put('zones', event.data.zone);
        return count();
      case 'curbs.zone.deleted': {
        const id = curbDocumentId(projectId, event.data.curbZoneId);
        // A delete older than the zone's last write (a parked event retried) leaves the newer zone.
        const current = await tx.get<CurbDocument & AppliedVersions>(curbCollections.zones, id);
        if (current && !alreadyApplied(current, stored)) {
          await tx.delete(curbCollections.zones, id);
          added.zones--;
        }
        return count();
      }
      case 'curbs.events.recorded':
        for (const cds of event.data.events) {
          const cdsId = cds['event_id'] as string;
          const doc: CurbDocument = { id: curbDocumentId(projectId, cdsId), organizationId: stored.organizationId, projectId, cdsId, lastUpdated: eventTime(cds['event_publication_time']) ?? 0, time: eventTime(cds['event_time']) ?? 0, cds };
          await upsert(tx, curbCollections.events, doc, stored);
        }
        return;
      default:
        return;
    }
  },
};

/**
 * Each object of an import chunk with its text in the stored event: its document is written with that text, not
 * serialised again (at a million zones, turning their coordinates back into digits cost more than parsing them).
 * Where the store gave no text, or its arrays do not match the data, the objects are serialised as usual.
 */
function rememberItemTexts(stored: StoredEvent, data: Record<CurbKind, CdsObject[]>): void {
  const text = dataTextOf(stored);
  const arrays = text === undefined ? null : topLevelArrayItems(text);
  if (!arrays) return;
  for (const kind of curbKinds) {
    const items = arrays.get(kind);
    if (items?.length !== data[kind].length) continue;
    for (let i = 0; i < items.length; i++) rememberJsonText(data[kind][i]!, items[i]!);
  }
}

/** Writes the document unless this event (or a later one of its stream) already did. */
function upsert(tx: ReadStoreTx, collection: string, doc: CurbDocument, stored: StoredEvent): Promise<void> {
  return updateOnce<CurbDocument>(tx, collection, doc.id, stored, () => doc);
}

/** What exports need of tenancy: each organization's name, currency and zone, and which projects it owns. */
export const exportDirectoryProjection: Projection = {
  name: 'export.directory.v1',
  filter: { types: ['tenancy.organization.created', 'tenancy.project.created'] },
  collections: Object.values(directoryCollections),
  async apply(stored, tx) {
    const event = stored as StoredEvent & (OrganizationCreated | ProjectCreated);
    if (event.type === 'tenancy.organization.created') {
      const { organizationId, name, currency, timeZone } = event.data;
      await updateOnce<ExportOrganizationView>(tx, directoryCollections.organizations, organizationId, stored, () => ({ id: organizationId, organizationId, name, currency, timeZone }));
    } else {
      await updateOnce<Document>(tx, directoryCollections.projects, event.data.projectId, stored, () => ({ id: event.data.projectId, organizationId: stored.organizationId, name: event.data.name }));
    }
  },
};
