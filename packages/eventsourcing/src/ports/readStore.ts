import type { Checkpoint } from './eventStore.ts';

/** Every read-model document is keyed by id and carries its tenant. */
export interface Document {
  id: string;
  organizationId: string;
  [field: string]: unknown;
}

export type Scalar = string | number | boolean | null;
/** A range on one field (Mongo-style operators, so the MongoDB adapter maps them one to one). */
export type Range = { $lt?: string | number; $lte?: string | number; $gt?: string | number; $gte?: string | number };
/** Equality (or a range) on top-level fields; every tenant query includes organizationId. */
export type Filter = Record<string, Scalar | Range>;

export interface FindOptions {
  limit?: number;
  orderBy?: string;
  direction?: 'asc' | 'desc';
}

export interface PageOptions {
  limit: number;
  /** A field with a value on every matching document; ties are broken by id. Default id. */
  orderBy?: string;
  direction?: 'asc' | 'desc';
  /** The `next` of the previous page. */
  after?: string | null;
}

/** One page of a keyset (cursor) read: stable while documents are added, never skips or repeats one. */
export interface Page<T> {
  items: T[];
  /** Opaque cursor of the next page; null on the last page. */
  next: string | null;
}

export function encodeCursor(position: { value: Scalar; id: string }): string {
  return Buffer.from(JSON.stringify([position.value, position.id])).toString('base64url');
}

/** The position a cursor names; a cursor that was not made by encodeCursor is an error the caller reports as 400. */
export function decodeCursor(cursor: string): { value: Scalar; id: string } {
  try {
    const [value, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [Scalar, string];
    if (typeof id === 'string' && (value === null || ['string', 'number', 'boolean'].includes(typeof value))) return { value, id };
  } catch {
    // falls through
  }
  throw new InvalidCursorError();
}

export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor; use the next link of the previous page');
    this.name = 'InvalidCursorError';
  }
}

export interface ReadStoreTx {
  get<T extends Document>(collection: string, id: string): Promise<T | null>;
  put(collection: string, doc: Document): Promise<void>;
  delete(collection: string, id: string): Promise<void>;
  /**
   * Stores a checkpoint with the transaction's writes. With `fence`, only while that is still the checkpoint's
   * fence (fenceCheckpoint): otherwise the transaction fails with FencedError and writes nothing (MongoDB: checked
   * before its writes, see deployment.md).
   */
  saveCheckpoint(name: string, position: Checkpoint, fence?: number): Promise<void>;
}

/** The reads of a ReadStore; also what a snapshot offers. */
export interface ReadStoreReader {
  get<T extends Document>(collection: string, id: string): Promise<T | null>;
  find<T extends Document>(collection: string, filter: Filter, options?: FindOptions): Promise<T[]>;
  /** Keyset pagination for large results (exports, lists): never an offset. */
  findPage<T extends Document>(collection: string, filter: Filter, options: PageOptions): Promise<Page<T>>;
  count(collection: string, filter: Filter): Promise<number>;
  loadCheckpoint(name: string): Promise<Checkpoint>;
}

export interface ReadStore extends ReadStoreReader {
  /**
   * Runs fn on one consistent view of every collection and checkpoint, as of its start: projections keep
   * writing meanwhile, and fn sees none of it (SQLite: a read transaction on a second connection; PostgreSQL:
   * REPEATABLE READ; MongoDB: snapshot reads). Long exports read through it.
   */
  snapshot<R>(fn: (reader: ReadStoreReader) => Promise<R>): Promise<R>;
  /** Runs fn atomically where the adapter can (SQLite); otherwise writes are idempotent upserts (MongoDB). */
  transaction<R>(fn: (tx: ReadStoreTx) => Promise<R>): Promise<R>;
  /** Declares a secondary query field so the adapter can index it. */
  ensureIndex(collection: string, field: string): Promise<void>;
  /**
   * Optional, for a projection about to catch up on a backlog: while every one of the collections is empty, drops
   * their secondary indexes (the adapter's own and ensureIndex's) and answers the function that ends the load: the
   * caller ensures its fields' indexes, then calls it to build the adapter's own. Null when any holds documents:
   * nothing is dropped, and the adapter's own indexes a load stopped halfway had not built yet are built.
   * `indexes` names the fields the caller will ensure indexes on, per collection: an adapter may keep their values
   * apart from the documents as they are written (SQLite: a column each), so its indexes are sorted from them.
   */
  bulkLoad?(collections: string[], indexes?: Record<string, string[]>): Promise<(() => Promise<void>) | null>;
  /**
   * Drops every document of the collections and the checkpoint, with its parts (`<name>@…`, one per Kafka
   * partition): a projection rebuilt from position 0.
   */
  reset(checkpointName: string, collections: string[]): Promise<void>;
  /**
   * Takes a checkpoint for a new writer (a process given a Kafka partition): its fence goes up by one, so a writer
   * holding an older fence can no longer save it; answers the fence and the position stored, read after it.
   */
  fenceCheckpoint(name: string): Promise<{ fence: number; position: Checkpoint }>;
  /** The checkpoints whose names start with prefix (a checkpoint's parts: `<name>@`). */
  loadCheckpoints(prefix: string): Promise<Map<string, Checkpoint>>;
}
