import { randomBytes } from 'node:crypto';
import { MongoClient, type AnyBulkWriteOperation, type Collection, type Db, type Filter as MongoFilter, type Sort } from 'mongodb';
import type { Checkpoint } from '../../ports/eventStore.ts';
import { bufferedTx } from '../bufferedTx.ts';
import { decodeCursor, encodeCursor, type Document, type Filter, type FindOptions, type Page, type PageOptions, type Range, type ReadStore, type ReadStoreReader, type ReadStoreTx, type Scalar } from '../../ports/readStore.ts';
import { decodeValue, encodeDocument } from './mongoValues.ts';

const COLLECTION = /^[a-z][a-z0-9_]*$/;
const FIELD = /^[A-Za-z][A-Za-z0-9_]*$/;
const CHECKPOINTS = 'curbmap_checkpoints';
const BATCHES = 'curbmap_batches';
const SNAPSHOTS = 'curbmap_snapshots';
/** A writer's or a snapshot's mark older than this belongs to a process that died: it is ignored, then removed. */
const LEASE_MS = 60_000;
const HEARTBEAT_MS = 10_000;
const CLEANUP_EVERY_MS = 10_000;

/**
 * A stored version: the document's own fields, its id as `_id` (a version kept for snapshots: `<id>@<_s>`), `_s`
 * the clock of the batch that wrote it and, on a kept version, `_until` the clock of the batch that replaced it.
 */
type Stored = { _id: string; _s: number; _until?: number; id: string; [field: string]: unknown };
/** A batch number given out, by its insert (unique): being written, or written. */
interface Batch {
  _id: number;
  writing: boolean;
  at: number;
}
/** An open snapshot: the clock it reads at (absent while it registers) and its last heartbeat. */
interface OpenSnapshot {
  _id: string;
  s?: number;
  at: number;
}
/** Batch numbers this far below the last are forgotten (no read lags that far behind). */
const BATCHES_KEPT = 10_000;

/** The current versions of a collection, and the versions kept for open snapshots. */
interface Pair {
  current: Collection<Stored>;
  kept: Collection<Stored>;
}

const fromStored = <T extends Document>(stored: Stored): T => {
  const { _id, _s, _until, ...fields } = stored;
  return decodeValue(fields) as T;
};

function field(name: string): string {
  if (!FIELD.test(name)) throw new Error(`invalid field name ${name}`);
  return name;
}

function toMongoFilter(filter: Filter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(filter)) {
    field(key);
    if (value !== null && typeof value === 'object') {
      const range: Record<string, unknown> = {};
      for (const [op, bound] of Object.entries(value as Range)) {
        if (!['$lt', '$lte', '$gt', '$gte'].includes(op) || bound === undefined) throw new Error(`unsupported operator ${op} on ${key}`);
        range[op] = bound;
      }
      out[key] = range;
    } else {
      // null selects a missing field too, as in the other adapters.
      out[key] = value;
    }
  }
  return out;
}

/** Strictly after the cursor's (value, id) in the page's order; ties broken by id. */
function keyset(orderBy: string, direction: 'asc' | 'desc', after: { value: Scalar; id: string }): Record<string, unknown> {
  const op = direction === 'desc' ? '$lt' : '$gt';
  if (orderBy === 'id') return { id: { [op]: after.id } };
  return { $or: [{ [orderBy]: { [op]: after.value } }, { [orderBy]: after.value, id: { [op]: after.id } }] };
}

/** MongoDB's order of values of different types (null, numbers, strings, booleans), then within one type. */
function compareValues(a: unknown, b: unknown): number {
  const rank = (v: unknown) => (v === null || v === undefined ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : typeof v === 'boolean' ? 4 : 3);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 2) return Buffer.compare(Buffer.from(a as string), Buffer.from(b as string));
  if (a === b || ra === 0) return 0;
  return (a as number) < (b as number) ? -1 : 1;
}

interface Query {
  filter: Filter;
  orderBy: string;
  direction: 'asc' | 'desc';
  limit: number | null;
  after?: { value: Scalar; id: string } | null;
}

/** The reads of current versions, or (with `at`) of the versions a snapshot at that clock sees. */
class MongoReader implements ReadStoreReader {
  protected readonly pairs: (collection: string) => Promise<Pair>;
  protected readonly at: number | null;

  constructor(pairs: (collection: string) => Promise<Pair>, at: number | null) {
    this.pairs = pairs;
    this.at = at;
  }

  async get<T extends Document>(collection: string, id: string): Promise<T | null> {
    const found = await this.getStored(await this.pairs(collection), id);
    return found ? fromStored<T>(found) : null;
  }

  async find<T extends Document>(collection: string, filter: Filter, options: FindOptions = {}): Promise<T[]> {
    return (await this.select(collection, { filter, orderBy: options.orderBy ?? 'id', direction: options.direction ?? 'asc', limit: options.limit ?? null })).map((s) => fromStored<T>(s));
  }

  async findPage<T extends Document>(collection: string, filter: Filter, options: PageOptions): Promise<Page<T>> {
    const orderBy = options.orderBy ?? 'id';
    const direction = options.direction ?? 'asc';
    const after = options.after ? decodeCursor(options.after) : null;
    const items = (await this.select(collection, { filter, orderBy, direction, limit: options.limit + 1, after })).map((s) => fromStored<T>(s));
    const more = items.length > options.limit;
    if (more) items.pop();
    const last = items[items.length - 1];
    return { items, next: more && last ? encodeCursor({ value: orderBy === 'id' ? last.id : (last[orderBy] as Scalar), id: last.id }) : null };
  }

  async count(collection: string, filter: Filter): Promise<number> {
    const pair = await this.pairs(collection);
    const where = toMongoFilter(filter);
    if (this.at === null) return pair.current.countDocuments(where as MongoFilter<Stored>);
    const current = await pair.current.countDocuments({ $and: [where, { _s: { $lte: this.at } }] } as MongoFilter<Stored>);
    const kept = await pair.kept.find(this.keptAt(where)).toArray();
    return current + kept.length - (await this.alsoCurrent(pair, kept)).size;
  }

  async loadCheckpoint(name: string): Promise<Checkpoint> {
    const found = await this.getStored(await this.pairs(CHECKPOINTS), name);
    return (found?.['position'] as string | null | undefined) ?? null;
  }

  private async getStored(pair: Pair, id: string): Promise<Stored | null> {
    const current = await pair.current.findOne({ _id: id });
    if (this.at === null || (current && current._s <= this.at)) return current;
    return pair.kept.findOne(this.keptAt({ id }));
  }

  /** Kept versions valid at the snapshot's clock. */
  private keptAt(where: Record<string, unknown>): MongoFilter<Stored> {
    return { $and: [where, { _s: { $lte: this.at! } }, { _until: { $gt: this.at! } }] } as MongoFilter<Stored>;
  }

  /**
   * Kept versions that are still the current one: a batch keeps a version before it replaces it, so for a moment
   * one version is in both places (never two different versions valid at one clock).
   */
  private async alsoCurrent(pair: Pair, kept: Stored[]): Promise<Set<string>> {
    if (kept.length === 0) return new Set();
    const current = await pair.current.find({ _id: { $in: kept.map((k) => k.id) } }).toArray();
    const version = new Map(current.map((c) => [c._id, c._s]));
    return new Set(kept.filter((k) => version.get(k.id) === k._s).map((k) => k.id));
  }

  private async select(collection: string, q: Query): Promise<Stored[]> {
    if (q.orderBy !== 'id') field(q.orderBy);
    const pair = await this.pairs(collection);
    const clauses: Record<string, unknown>[] = [toMongoFilter(q.filter)];
    if (q.after) clauses.push(keyset(q.orderBy, q.direction, q.after));
    const dir = q.direction === 'desc' ? -1 : 1;
    const sort: Sort = q.orderBy === 'id' ? { id: dir } : { [q.orderBy]: dir, id: dir };
    const where = clauses.length === 1 ? clauses[0]! : { $and: clauses };
    if (this.at === null) {
      const cursor = pair.current.find(where as MongoFilter<Stored>).sort(sort);
      return (q.limit === null ? cursor : cursor.limit(q.limit)).toArray();
    }
    // A snapshot: the current versions written at or before its clock, merged with the kept versions valid at it.
    // Kept versions are few (only those replaced while a snapshot is open), and each can hide at most one current
    // version (the same one), so that many more current versions are read.
    const kept = await pair.kept.find(this.keptAt(where)).sort(sort).toArray();
    const cursor = pair.current.find({ $and: [where, { _s: { $lte: this.at } }] } as MongoFilter<Stored>).sort(sort);
    const current = await (q.limit === null ? cursor : cursor.limit(q.limit + kept.length)).toArray();
    const order = (a: Stored, b: Stored) => dir * (q.orderBy === 'id' ? compareValues(a.id, b.id) : compareValues(a[q.orderBy], b[q.orderBy]) || compareValues(a.id, b.id));
    const seen = new Set<string>();
    const merged = [...current, ...kept].sort(order).filter((s) => !seen.has(s.id) && seen.add(s.id));
    return q.limit === null ? merged : merged.slice(0, q.limit);
  }
}

/**
 * Read models on MongoDB (or a server of its wire protocol: FerretDB), correct without multi-document transactions.
 * A transaction's writes are buffered, then written under a batch number taken by inserting it: the documents
 * first, the checkpoint last. A crash between the two replays the batch, and projections skip what a document
 * already applied (appliedVersions). Snapshots see the versions written at or before their batch number: a batch
 * that replaces a document while a snapshot is open keeps the version it replaces until no snapshot needs it.
 * Nothing is updated in place by two processes (FerretDB would lose one of two concurrent updates of a document).
 * Values MongoDB or FerretDB cannot store as they are (nested arrays, keys with dots) are kept as JSON text.
 */
export class MongoReadStore extends MongoReader implements ReadStore {
  private readonly client: MongoClient;
  private readonly db: Db;
  private readonly batches: Collection<Batch>;
  private readonly snapshots: Collection<OpenSnapshot>;
  private readonly made: Map<string, Promise<Pair>>;
  /** Collections this process kept versions in: cleaned when no snapshot needs them. */
  private readonly keptIn = new Set<string>();
  private lastCleanup = 0;

  private constructor(client: MongoClient, db: Db, made: Map<string, Promise<Pair>>) {
    const pairs = (collection: string): Promise<Pair> => {
      if (collection !== CHECKPOINTS && !COLLECTION.test(collection)) return Promise.reject(new Error(`invalid collection name ${collection}`));
      let pair = made.get(collection);
      if (!pair) {
        const name = collection === CHECKPOINTS ? CHECKPOINTS : `rm_${collection}`;
        const current = db.collection<Stored>(name);
        const kept = db.collection<Stored>(`${name}__kept`);
        pair = Promise.all([current.createIndex({ organizationId: 1, id: 1 }), current.createIndex({ id: 1 }), kept.createIndex({ id: 1 }), kept.createIndex({ _until: 1 })]).then(() => ({ current, kept }));
        pair.catch(() => made.delete(collection));
        made.set(collection, pair);
      }
      return pair;
    };
    super(pairs, null);
    this.client = client;
    this.db = db;
    this.batches = db.collection<Batch>(BATCHES);
    this.snapshots = db.collection<OpenSnapshot>(SNAPSHOTS);
    this.made = made;
  }

  /** MONGO_URL: the database named in its path, `curbmap` when it names none. */
  static async open(url: string): Promise<MongoReadStore> {
    const client = new MongoClient(url, { ignoreUndefined: true, serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    const path = new URL(url.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.slice(1);
    const db = client.db(path || 'curbmap');
    await db.collection<Batch>(BATCHES).createIndex({ writing: 1, _id: 1 });
    const store = new MongoReadStore(client, db, new Map());
    // Versions a process kept and did not clean before it died are cleaned from here.
    await store.findKept();
    return store;
  }

  /** Every collection any process kept versions in. */
  private async findKept(): Promise<void> {
    for (const { name } of await this.db.listCollections({}, { nameOnly: true }).toArray()) {
      if (name.endsWith('__kept')) this.keptIn.add(name === `${CHECKPOINTS}__kept` ? CHECKPOINTS : name.slice(3, -'__kept'.length));
    }
  }

  async snapshot<R>(fn: (reader: ReadStoreReader) => Promise<R>): Promise<R> {
    const token = randomBytes(8).toString('hex');
    // Registered before the clock is read: a batch numbered after that read sees the snapshot (it reads the open
    // snapshots after taking its number) and keeps the versions it replaces; one numbered before is waited for.
    await this.snapshots.insertOne({ _id: token, at: Date.now() });
    const heartbeat = setInterval(() => void this.snapshots.updateOne({ _id: token }, { $set: { at: Date.now() } }).catch(() => undefined), HEARTBEAT_MS);
    heartbeat.unref();
    try {
      const at = await this.lastBatch();
      await this.snapshots.updateOne({ _id: token }, { $set: { s: at, at: Date.now() } });
      await this.waitForBatches(at);
      return await fn(new MongoReader((c) => this.pairs(c), at));
    } finally {
      clearInterval(heartbeat);
      await this.snapshots.deleteOne({ _id: token }).catch(() => undefined);
      // The versions other processes kept for this snapshot are theirs to clean too: whoever ends it first does.
      await this.findKept().then(() => this.cleanup(true)).catch(() => undefined);
    }
  }

  private async lastBatch(): Promise<number> {
    return (await this.batches.find({}).sort({ _id: -1 }).limit(1).next())?._id ?? 0;
  }

  /** Waits until the batches numbered up to a snapshot's clock are written (or their writer died). */
  private async waitForBatches(at: number): Promise<void> {
    const deadline = Date.now() + LEASE_MS;
    while (Date.now() < deadline) {
      if ((await this.batches.countDocuments({ writing: true, _id: { $lte: at }, at: { $gt: Date.now() - LEASE_MS } })) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * The next batch number: the one after the last, taken by inserting it (numbers are unique, so of two writers
   * that read the same last number one inserts and the other tries the next). Never a counter updated in place:
   * FerretDB loses one of two concurrent updates of a document.
   */
  private async nextBatch(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const n = (await this.lastBatch()) + 1;
      try {
        await this.batches.insertOne({ _id: n, writing: true, at: Date.now() });
        return n;
      } catch (err) {
        if ((err as { code?: number }).code !== 11000 || attempt >= 100) throw err;
      }
    }
  }

  /** fn reads and decides; then its documents are written, and its checkpoints after them. */
  async transaction<R>(fn: (tx: ReadStoreTx) => Promise<R>): Promise<R> {
    const { tx, touched, checkpoints } = bufferedTx((collection, id) => this.get(collection, id), async (collection) => void (await this.pairs(collection)));
    const result = await fn(tx);
    if (touched.size === 0 && checkpoints.size === 0) return result;
    const batch = await this.nextBatch();
    const keep = (await this.snapshots.countDocuments({ at: { $gt: Date.now() - LEASE_MS } })) > 0;
    try {
      const byCollection = new Map<string, { id: string; doc: Document | null }[]>();
      for (const { collection, id, doc } of touched.values()) byCollection.set(collection, [...(byCollection.get(collection) ?? []), { id, doc }]);
      for (const [collection, writes] of byCollection) await this.write(collection, writes, batch, keep);
      if (checkpoints.size > 0) await this.write(CHECKPOINTS, [...checkpoints].map(([name, position]) => ({ id: name, doc: { id: name, organizationId: '', position } })), batch, keep);
    } finally {
      await this.batches.updateOne({ _id: batch }, { $set: { writing: false } }).catch(() => undefined);
    }
    if (Date.now() - this.lastCleanup > CLEANUP_EVERY_MS) await this.cleanup(false).catch(() => undefined);
    return result;
  }

  /** One collection's writes of a batch; with `keep`, the versions they replace are kept first. */
  private async write(collection: string, writes: { id: string; doc: Document | null }[], batch: number, keep: boolean): Promise<void> {
    const pair = await this.pairs(collection);
    if (keep) {
      const previous = await pair.current.find({ _id: { $in: writes.map((w) => w.id) } }).toArray();
      if (previous.length > 0) {
        this.keptIn.add(collection);
        await pair.kept.bulkWrite(previous.map((p) => ({ replaceOne: { filter: { _id: `${p._id}@${p._s}` }, replacement: { ...p, _id: `${p._id}@${p._s}`, _until: batch }, upsert: true } })));
      }
    }
    const ops: AnyBulkWriteOperation<Stored>[] = writes.map(({ id, doc }) =>
      doc ? { replaceOne: { filter: { _id: id }, replacement: { ...encodeDocument(doc), _id: id, _s: batch } as Stored, upsert: true } } : { deleteOne: { filter: { _id: id } } },
    );
    await pair.current.bulkWrite(ops, { ordered: true });
  }

  /** Drops kept versions no open snapshot can see, the marks of snapshots that died, and old batch numbers. */
  private async cleanup(force: boolean): Promise<void> {
    if (!force && this.keptIn.size === 0 && Date.now() - this.lastCleanup < 60 * CLEANUP_EVERY_MS) return;
    this.lastCleanup = Date.now();
    const stale = Date.now() - LEASE_MS;
    // The last number is read before the open snapshots: one that registers after reads a clock at least as high.
    const last = await this.lastBatch();
    await this.snapshots.deleteMany({ at: { $lte: stale } });
    const open = await this.snapshots.find({}).toArray();
    // A snapshot still registering has no clock yet: it may need anything.
    const bound = open.length === 0 ? last : Math.min(...open.map((o) => o.s ?? 0));
    for (const collection of [...this.keptIn]) {
      const pair = await this.pairs(collection);
      await pair.kept.deleteMany({ _until: { $lte: bound } });
      if (open.length === 0 && (await pair.kept.countDocuments({})) === 0) this.keptIn.delete(collection);
    }
    await this.batches.deleteMany({ _id: { $lt: last - BATCHES_KEPT } });
  }

  async ensureIndex(collection: string, name: string): Promise<void> {
    const pair = await this.pairs(collection);
    if (name === 'id' || name === 'organizationId') return;
    await pair.current.createIndex({ organizationId: 1, [field(name)]: 1, id: 1 });
  }

  async reset(checkpointName: string, collections: string[]): Promise<void> {
    for (const collection of collections) {
      const pair = await this.pairs(collection);
      await pair.current.deleteMany({});
      await pair.kept.deleteMany({});
    }
    const checkpoints = await this.pairs(CHECKPOINTS);
    await checkpoints.current.deleteOne({ _id: checkpointName });
    await checkpoints.kept.deleteMany({ id: checkpointName });
  }

  async close(): Promise<void> {
    this.made.clear();
    await this.client.close();
  }

  /** For tests: the database this store writes to. */
  get database(): Db {
    return this.db;
  }
}
