import { createHash } from 'node:crypto';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { FormatterOptions, type Row as CsvRow } from '@fast-csv/format';
// fast-csv's own row formatter (RFC 4180 quoting), driven directly: its stream pushes one Buffer per row, which
// costs more than the row itself at a million rows.
import { RowFormatter } from '@fast-csv/format/build/src/formatter/index.js';
import { curbKinds, type CurbKind, type ExportRequest } from '@curbmap/contracts';
import type { Filter, Page, ReadStoreReader } from '@curbmap/eventsourcing';
import { HttpError } from '@curbmap/service-kit';
import type { CdsObject } from '../domain/curbs/cdsValidation.ts';
import { cds11Event, csvCell, curbCsvColumns, neutralise } from '../domain/exportJob/exportRows.ts';
import { AggregateBuilder, aggregateColumns, SessionBuilder, sessionColumns } from '../domain/metrics/cdsMetrics.ts';
import { curbCollections, curbDocumentId, curbInventoryProjection, inProject, type CurbDocument, type ExportOrganizationView } from '../projections/curbInventoryProjection.ts';

const PAGE = 250;
/** Text is handed to the stream in pieces of about this size: one write per row would cost more than the row. */
const CHUNK_CHARS = 64 * 1024;

type Row = Record<string, unknown>;
interface Dataset {
  collection: string;
  filter: Filter;
  /** The CSV columns and how a document fills them. */
  columns: string[];
  csvRow(doc: Row): (string | number | boolean)[];
  /** The JSON/NDJSON object of a document. */
  jsonRow(doc: Row): unknown;
  curbKind: CurbKind | 'events' | null;
  /** Keyset order of the reads (default id). */
  orderBy?: string;
  /** Output rows from the documents read (default: one per document). */
  derive?: (docs: AsyncIterable<Row>) => AsyncIterable<Row>;
}

/**
 * Other services' read models an organization may export (its own rows only), by collection and projection
 * name: the export waits for that projection and names its checkpoint in the manifest.
 */
const foreign = {
  invoices: { collection: 'invoices', projection: 'invoice.invoices.v6' },
  payments: { collection: 'billing_payments', projection: 'billing.receivables.v4' },
  usage: { collection: 'usage_buckets', projection: 'usage.rollups.v2' },
} as const;

/** The read model a dataset is read from. */
export function sourceOf(dataset: ExportRequest['dataset']): { projection: string } {
  return dataset === 'invoices' || dataset === 'payments' || dataset === 'usage' ? foreign[dataset] : { projection: curbInventoryProjection.name };
}

/** The artifact's file extension. */
export function extensionOf(request: Pick<ExportRequest, 'format' | 'compression' | 'dataset'>): string {
  const base = request.format === 'cds' ? (isMetrics(request.dataset) ? 'cds.csv' : 'cds.json') : request.format;
  return `${base}${request.compression === 'gzip' ? '.gz' : ''}`;
}

const isCurbDataset = (d: ExportRequest['dataset']): d is CurbKind | 'events' => (curbKinds as readonly string[]).includes(d) || d === 'events';
const isMetrics = (d: ExportRequest['dataset']): d is 'sessions' | 'aggregates' => d === 'sessions' || d === 'aggregates';

/** Refuses what cannot be exported, before a job is recorded. */
export function checkExportRequest(request: ExportRequest): void {
  if (request.format === 'cds' && !isCurbDataset(request.dataset) && !isMetrics(request.dataset)) throw new HttpError(422, 'unsupported_format', `dataset ${request.dataset} has no CDS form; use json, ndjson or csv`);
  if (isMetrics(request.dataset) && request.format === 'cds' && request.cdsVersion !== '1.1') throw new HttpError(422, 'unsupported_format', 'CDS metrics are defined by CDS 1.1');
  if (request.filters.bbox) {
    const [minLng, minLat, maxLng, maxLat] = request.filters.bbox as [number, number, number, number];
    if (!(minLng >= -180 && maxLng <= 180 && minLat >= -90 && maxLat <= 90 && minLng <= maxLng && minLat <= maxLat)) throw new HttpError(422, 'invalid_bbox', 'filters.bbox is [minLng, minLat, maxLng, maxLat] in WGS84');
  }
}

function datasetOf(organizationId: string, request: ExportRequest): Dataset {
  const filter: Filter = { organizationId };
  const dataset = request.dataset;
  // Curb documents (and the metrics derived from events) are a project's by their ids' prefix; the rest by a field.
  if (request.projectId) Object.assign(filter, isCurbDataset(dataset) || isMetrics(dataset) ? inProject(request.projectId) : { projectId: request.projectId });
  const { from, to, bbox } = request.filters;
  const range = (field: string, lo?: string | number, hi?: string | number) => {
    if (lo === undefined && hi === undefined) return;
    filter[field] = { ...(lo !== undefined ? { $gte: lo } : {}), ...(hi !== undefined ? { $lt: hi } : {}) };
  };
  if (isCurbDataset(dataset)) {
    if (request.changedSince) range('lastUpdated', Date.parse(request.changedSince));
    if (bbox && dataset !== 'policies' && dataset !== 'events') {
      const [minLng, minLat, maxLng, maxLat] = bbox as [number, number, number, number];
      Object.assign(filter, { maxLng: { $gte: minLng }, minLng: { $lte: maxLng }, maxLat: { $gte: minLat }, minLat: { $lte: maxLat } });
    }
    if (dataset === 'events') range('time', from ? Date.parse(from) : undefined, to ? Date.parse(to) : undefined);
    const fields = curbCsvColumns[dataset];
    return {
      collection: curbCollections[dataset],
      filter,
      columns: ['project_id', ...fields],
      csvRow: (doc) => [doc['projectId'] as string, ...fields.map((f) => csvCell(f, (doc['cds'] as CdsObject)[f]))],
      jsonRow: (doc) => ({ project_id: doc['projectId'], ...(doc['cds'] as CdsObject) }),
      curbKind: dataset,
    };
  }
  if (dataset === 'invoices') {
    range('issuedAt', from, to);
    const fields = ['id', 'number', 'status', 'currency', 'total', 'amountDue', 'amountPaid', 'amountRemaining', 'collectionMethod', 'poNumber', 'issuedAt', 'dueAt', 'paidAt'];
    return simple(foreign.invoices.collection, filter, fields);
  }
  if (dataset === 'payments') {
    range('receivedAt', from, to);
    const fields = ['id', 'invoiceId', 'amount', 'appliedAmount', 'excessAmount', 'refundedAmount', 'currency', 'method', 'reference', 'status', 'provider', 'receivedAt'];
    return simple(foreign.payments.collection, filter, fields);
  }
  if (dataset === 'usage') {
    range('hour', from, to);
    if (request.filters.meter) filter['meter'] = request.filters.meter;
    return simple(foreign.usage.collection, filter, ['meter', 'projectId', 'hour', 'count', 'sum']);
  }
  // CDS metrics: derived from the events, read in time order (start_time inclusive, end_time exclusive).
  range('time', from ? Date.parse(from) : undefined, to ? Date.parse(to) : undefined);
  const columns: readonly string[] = dataset === 'sessions' ? sessionColumns : aggregateColumns;
  return {
    collection: curbCollections.events,
    filter,
    orderBy: 'time',
    columns: [...columns],
    csvRow: (row) => columns.map((c) => csvCell(c, row[c])),
    jsonRow: (row) => row,
    curbKind: null,
    derive: dataset === 'sessions' ? (docs) => sessionsOf(docs) : (docs) => aggregatesOf(docs, request.timeZone),
  };
}

async function* sessionsOf(docs: AsyncIterable<Row>): AsyncGenerator<Row> {
  const sessions = new SessionBuilder();
  for await (const doc of docs) {
    const session = sessions.push(doc['cds'] as CdsObject);
    if (session) yield session;
  }
}

async function* aggregatesOf(docs: AsyncIterable<Row>, timeZone: string): AsyncGenerator<Row> {
  const sessions = new SessionBuilder();
  const aggregates = new AggregateBuilder(timeZone);
  for await (const doc of docs) {
    const event = doc['cds'] as CdsObject;
    aggregates.addEvent(event);
    const session = sessions.push(event);
    if (session) aggregates.addSession(session);
  }
  yield* aggregates.rows();
}

function simple(collection: string, filter: Filter, fields: string[]): Dataset {
  return {
    collection,
    filter,
    columns: fields,
    csvRow: (doc) => fields.map((f) => csvCell(f, doc[f])),
    jsonRow: (doc) => Object.fromEntries(fields.map((f) => [f, doc[f] ?? null])),
    curbKind: null,
  };
}

export interface ExportProgress {
  rowsDone: number;
  bytes: number;
}

export interface WrittenExport {
  rows: number;
  bytes: number;
  sha256: string;
  consistentAt: string | null;
  contentType: string;
}

/**
 * Streams one export from a consistent snapshot of the read models to `out`: pages of documents, never the
 * whole dataset; gzip when asked; bytes and SHA-256 of what is written. `progress` is updated as rows go out.
 */
export async function writeExport(input: {
  reader: ReadStoreReader;
  organization: ExportOrganizationView;
  request: ExportRequest;
  out: Writable;
  progress: ExportProgress;
  signal: AbortSignal;
  now: Date;
  /** The read model whose checkpoint the snapshot is consistent at. */
  checkpointName: string;
  /** Rows to leave out (the live metrics feed's filters). */
  rowFilter?: (row: Row) => boolean;
}): Promise<WrittenExport> {
  const { reader, organization, request, progress, signal } = input;
  const dataset = datasetOf(organization.id, request);
  const consistentAt = await reader.loadCheckpoint(input.checkpointName);
  const hash = createHash('sha256');
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      progress.bytes += chunk.length;
      done(null, chunk);
    },
  });
  async function* documents(): AsyncGenerator<Row> {
    let after: string | null = null;
    do {
      if (signal.aborted) throw signal.reason;
      const page: Page<Row & { id: string; organizationId: string }> = await reader.findPage<Row & { id: string; organizationId: string }>(dataset.collection, dataset.filter, { limit: PAGE, after, ...(dataset.orderBy ? { orderBy: dataset.orderBy } : {}) });
      // Each document is let go once it is written: garbage that dies young, never promoted to the old
      // generation while the rest of its page is being written.
      const items: (Row | null)[] = page.items;
      for (let i = 0; i < items.length; i++) {
        const doc = items[i]!;
        items[i] = null;
        progress.rowsDone += 1;
        yield doc;
      }
      after = page.next;
    } while (after);
  }
  const referencedPolicies = new Set<string>();
  let written = 0;
  async function* text(): AsyncGenerator<string> {
    let buffer = '';
    const flush = () => {
      const out = buffer;
      buffer = '';
      return out;
    };
    // CDS metrics are CSV with the spec's column names.
    const csv = request.format === 'csv' || (request.format === 'cds' && !dataset.curbKind) ? new RowFormatter<CsvRow, CsvRow>(new FormatterOptions({ headers: dataset.columns.map(neutralise), alwaysWriteHeaders: true, includeEndRowDelimiter: true, rowDelimiter: '\r\n' })) : null;
    const csvText = (done: (cb: (err: Error | null, rows?: string[]) => void) => void) => {
      let out = '';
      done((err, rows) => {
        if (err) throw err;
        out = rows?.join('') ?? '';
      });
      return out;
    };
    if (request.format === 'json') buffer += '[';
    if (request.format === 'cds' && dataset.curbKind) {
      const kind = dataset.curbKind;
      const envelope = { version: request.cdsVersion, time_zone: request.timeZone, last_updated: input.now.getTime(), currency: organization.currency, author: organization.name };
      buffer += `${JSON.stringify(envelope).slice(0, -1)},"data":{"${kind}":[`;
    }
    let first = true;
    for await (const doc of dataset.derive ? dataset.derive(documents()) : documents()) {
      if (input.rowFilter && !input.rowFilter(doc)) continue;
      written += 1;
      if (csv) buffer += csvText((cb) => csv.format(dataset.csvRow(doc), cb));
      else if (!dataset.curbKind && request.format === 'cds') throw new Error('a CDS export of this dataset is CSV');
      else if (request.format === 'ndjson') buffer += `${JSON.stringify(dataset.jsonRow(doc))}\n`;
      else if (request.format === 'json') buffer += `${first ? '' : ','}${JSON.stringify(dataset.jsonRow(doc))}`;
      else {
        let cds = doc['cds'] as CdsObject;
        if (dataset.curbKind === 'zones') for (const p of (cds['curb_policy_ids'] as string[]) ?? []) referencedPolicies.add(`${doc['projectId'] as string}\u0000${p}`);
        if (dataset.curbKind === 'events' && request.cdsVersion === '1.1') cds = cds11Event(cds);
        buffer += `${first ? '' : ','}${JSON.stringify(cds)}`;
      }
      first = false;
      if (buffer.length >= CHUNK_CHARS) yield flush();
    }
    if (request.format === 'json') buffer += ']';
    if (csv) buffer += csvText((cb) => csv.finish(cb));
    if (request.format === 'cds' && dataset.curbKind) {
      buffer += ']';
      // Zones come with every policy they reference (CDS: a consumer resolves curb_policy_ids in the same payload).
      if (dataset.curbKind === 'zones') {
        buffer += ',"policies":[';
        let firstPolicy = true;
        for (const key of [...referencedPolicies].sort()) {
          const [projectId, policyId] = key.split('\u0000') as [string, string];
          const policy = await reader.get<CurbDocument>(curbCollections.policies, curbDocumentId(projectId, policyId));
          if (!policy || policy.organizationId !== organization.id) continue;
          buffer += `${firstPolicy ? '' : ','}${JSON.stringify(policy.cds)}`;
          firstPolicy = false;
          if (buffer.length >= CHUNK_CHARS) yield flush();
        }
        buffer += ']';
      }
      buffer += '}}';
    }
    yield flush();
  }
  const gzip = request.compression === 'gzip';
  const source = Readable.from(text());
  if (gzip) await pipeline(source, createGzip({ level: 6 }), meter, input.out, { signal });
  else await pipeline(source, meter, input.out, { signal });
  const contentType = contentTypeOf(request);
  return { rows: written, bytes: progress.bytes, sha256: hash.digest('hex'), consistentAt, contentType };
}

export function contentTypeOf(request: Pick<ExportRequest, 'format' | 'cdsVersion' | 'dataset'>): string {
  if (request.format === 'cds') return isMetrics(request.dataset) ? 'application/vnd.cds+csv;version=1.1' : `application/vnd.cds+json;version=${request.cdsVersion}`;
  return request.format === 'csv' ? 'text/csv; charset=utf-8' : request.format === 'ndjson' ? 'application/x-ndjson' : 'application/json';
}

/** How many documents an export reads (its progress total; metrics derive fewer rows), from the same snapshot. */
export function countExport(reader: ReadStoreReader, organizationId: string, request: ExportRequest): Promise<number> {
  const dataset = datasetOf(organizationId, request);
  return reader.count(dataset.collection, dataset.filter);
}
