import { randomBytes } from 'node:crypto';
import { MongoClient, type AnyBulkWriteOperation, type Collection, type Db, type Filter as MongoFilter, type FindCursor, type Sort } from 'mongodb';
import type { Checkpoint } from '../../ports/eventStore.ts';
import { FencedError } from '../../errors.ts';
import { bufferedTx } from '../bufferedTx.ts';
import { decodeCursor, encodeCursor, type Document, type Filter, type FindOptions, type Page, type PageOptions, type Range, type ReadStore, type ReadStoreReader, type ReadStoreTx, type Scalar } from '../../ports/readStore.ts';
import { decodeValue, encodeDocument } from './mongoValues.ts';

const COLLECTION = /^[a-z][a-z0-9_]*$/;
const FIELD = /^[A-Za-z][A-Za-z0-9_]*$/;
const CHECKPOINTS = 'curbmap_checkpoints';
const BATCHES = 'curbmap_batches';
/** A checkpoint's fences: one inserted document per fence taken (`<name>#<n>`), never a counter updated in place. */
const FENCES = 'curbmap_fences';
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
    // Current versions first, kept ones second (a writer keeps a version, then replaces it: a document moving between
    // the two reads is found in the second); one version in both is counted once.
    const ids = new Set((await pair.current.find({ $and: [where, { _s: { $lte: this.at } }] } as MongoFilter<Stored>, { projection: { _id: 1 } }).toArray()).map((c) => c._id));
    for (const k of await pair.kept.find(this.keptAt(where), { projection: { id: 1 } }).toArray()) ids.add(k.id);
    return ids.size;
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

  private limited(cursor: FindCursor<Stored>, limit: number | null): Promise<Stored[]> {
    return (limit === null ? cursor : cursor.limit(limit)).toArray();
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
    // A snapshot: the current versions written at or before its clock, then the kept versions valid at it. In that
    // order: a writer keeps a version before it replaces it, so a document that leaves the first read is in the
    // second (for a moment one version is in both: the same one, taken once). Each read is a subset of the answer
    // in the answer's order, so the first `limit` of each hold the first `limit` of the whole.
    const current = await this.limited(pair.current.find({ $and: [where, { _s: { $lte: this.at } }] } as MongoFilter<Stored>).sort(sort), q.limit);
    const kept = await this.limited(pair.kept.find(this.keptAt(where)).sort(sort), q.limit);
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
 * A document has one writer at a time (the projection that owns its collection), as in the other adapters.
 * Values MongoDB or FerretDB cannot store as they are (nested arrays, keys with dots) are kept as JSON text.
 */
export class MongoReadStore extends MongoReader implements ReadStore {
  private readonly client: MongoClient;
  private readonly db: Db;
  private readonly batches: Collection<Batch>;
  private readonly snapshots: Collection<OpenSnapshot>;
  private readonly fences: Collection<Fence>;
  private readonly made: Map<string, Promise<Pair>>;
  /** Collections this process kept versions in: cleaned when no snapshot needs them. */
  private readonly keptIn = new Set<string>();
  private lastCleanup = 0;

  private constructor(client: MongoClient, db: Db) {
    const made = new Map<string, Promise<Pair>>();
    const pairs = (collection: string): Promise<Pair> => {
      if (collection !== CHECKPOINTS && (!COLLECTION.test(collection) || collection.includes('__'))) return Promise.reject(new Error(`invalid collection name ${collection}`));
      let pair = made.get(collection);
      if (!pair) {
        const name = collection === CHECKPOINTS ? CHECKPOINTS : `rm_${collection}`;
        const current = db.collection<Stored>(name);
        const kept = db.collection<Stored>(`${name}__kept`);
        // The kept collection is made (with its indexes) by the first batch that keeps a version in it.
        pair = Promise.all([current.createIndex({ organizationId: 1, id: 1 }), current.createIndex({ id: 1 })]).then(() => ({ current, kept }));
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
    this.fences = db.collection<Fence>(FENCES);
    this.made = made;
  }

  /** MONGO_URL: the database named in its path, `curbmap` when it names none. */
  static async open(url: string): Promise<MongoReadStore> {
    // Reads from the primary only: the order of registering, numbering and reading is what isolates snapshots.
    const client = new MongoClient(url, { ignoreUndefined: true, serverSelectionTimeoutMS: 10_000, readPreference: 'primary' });
    try {
      await client.connect();
      // The path after the host list (which may hold several hosts, so it is no URL to parse), percent-decoded.
      const named = /^mongodb(?:\+srv)?:\/\/[^/?]*\/([^?]+)/.exec(url)?.[1];
      const db = client.db(named ? decodeURIComponent(named) : 'curbmap');
      await db.collection<Batch>(BATCHES).createIndex({ writing: 1, _id: 1 });
      await db.collection<Fence>(FENCES).createIndex({ name: 1, fence: -1 });
      const store = new MongoReadStore(client, db);
      // Versions a process kept and did not clean before it died are cleaned from here.
      await store.findKept();
      return store;
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
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
    let lapsed = false;
    const heartbeat = setInterval(() => void this.snapshots.updateOne({ _id: token }, { $set: { at: Date.now() } }).then((r) => (lapsed ||= r.matchedCount === 0), () => (lapsed = true)), HEARTBEAT_MS);
    heartbeat.unref();
    try {
      const at = await this.lastBatch();
      await this.snapshots.updateOne({ _id: token }, { $set: { s: at, at: Date.now() } });
      await this.waitForBatches(at);
      const result = await fn(new MongoReader((c) => this.pairs(c), at));
      // A snapshot whose registration lapsed (a missed heartbeat, a stalled process) may have lost kept versions to
      // another process's cleanup: what it read cannot be trusted.
      if (lapsed || (await this.snapshots.countDocuments({ _id: token })) === 0) throw new Error('the read-model snapshot lapsed (its registration expired while it was read); retry');
      return result;
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

  /**
   * Waits until the batches numbered up to a snapshot's clock are written. A writer renews its mark while it writes;
   * one whose mark is older than the lease died and is not waited for.
   */
  private async waitForBatches(at: number): Promise<void> {
    const deadline = Date.now() + 10 * LEASE_MS;
    for (let pause = 2; ; pause = Math.min(pause * 2, 100)) {
      if ((await this.batches.countDocuments({ writing: true, _id: { $lte: at }, at: { $gt: Date.now() - LEASE_MS } })) === 0) return;
      if (Date.now() > deadline) throw new Error('a read-model batch has been written for ten minutes; the snapshot gives up');
      await new Promise((resolve) => setTimeout(resolve, pause));
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
    if (touched.length === 0 && checkpoints.size === 0) return result;
    // Fences are checked before anything is written (no transaction here to undo writes): a process that takes a
    // checkpoint over between this check and the writes below can still meet them (deployment.md).
    for (const [name, { fence }] of checkpoints) if (fence !== null && (await this.currentFence(name)) !== fence) throw new FencedError(name, fence);
    const batch = await this.nextBatch();
    const renew = setInterval(() => void this.batches.updateOne({ _id: batch }, { $set: { at: Date.now() } }).catch(() => undefined), HEARTBEAT_MS);
    renew.unref();
    try {
      const keep = (await this.snapshots.countDocuments({ at: { $gt: Date.now() - LEASE_MS } })) > 0;
      const byCollection = new Map<string, { id: string; doc: Document | null }[]>();
      for (const { collection, id, doc } of touched) {
        const writes = byCollection.get(collection) ?? [];
        writes.push({ id, doc });
        byCollection.set(collection, writes);
      }
      for (const [collection, writes] of byCollection) await this.write(collection, writes, batch, keep);
      if (checkpoints.size > 0) await this.write(CHECKPOINTS, [...checkpoints].map(([name, { position }]) => ({ id: name, doc: { id: name, organizationId: '', position } })), batch, keep);
    } finally {
      clearInterval(renew);
      // Marked written, or snapshots wait for it until its mark is older than the lease: tried a few times.
      for (let attempt = 0; attempt < 3; attempt++) {
        if (await this.batches.updateOne({ _id: batch }, { $set: { writing: false } }).then(() => true, () => false)) break;
        await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
      }
    }

    if (Date.now() - this.lastCleanup > CLEANUP_EVERY_MS) await this.cleanup(false).catch(() => undefined);
    return result;
  }

  private readonly keptIndexed = new Map<string, Promise<unknown>>();
  private keptIndexes(collection: string, pair: Pair): Promise<unknown> {
    let made = this.keptIndexed.get(collection);
    if (!made) {
      made = Promise.all([pair.kept.createIndex({ id: 1 }), pair.kept.createIndex({ _until: 1 })]);
      made.catch(() => this.keptIndexed.delete(collection));
      this.keptIndexed.set(collection, made);
    }
    return made;
  }

  /** One collection's writes of a batch; with `keep`, the versions they replace are kept first. */
  private async write(collection: string, writes: { id: string; doc: Document | null }[], batch: number, keep: boolean): Promise<void> {
    const pair = await this.pairs(collection);
    if (keep) {
      const previous = await pair.current.find({ _id: { $in: writes.map((w) => w.id) } }).toArray();
      if (previous.length > 0) {
        this.keptIn.add(collection);
        await this.keptIndexes(collection, pair);
        const keepAll = () => pair.kept.bulkWrite(previous.map((p) => ({ replaceOne: { filter: { _id: `${p._id}@${p._s}` }, replacement: { ...p, _id: `${p._id}@${p._s}`, _until: batch }, upsert: true } })), { ordered: false });
        // Two upserts of one key at once: one inserts, the other fails on the unique key; again, it replaces.
        await keepAll().catch((err: { code?: number }) => (err.code === 11000 ? keepAll() : Promise.reject(err)));
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
    const parts = { $or: [{ id: checkpointName }, { id: { $regex: `^${escapeRegex(checkpointName)}@` } }] };
    await checkpoints.current.deleteMany(parts as MongoFilter<Stored>);
    await checkpoints.kept.deleteMany(parts as MongoFilter<Stored>);
    // Parts keep their fences, raised: a process still holding one writes nothing.
    for (const name of await this.fences.distinct('name', { name: { $regex: `^${escapeRegex(checkpointName)}@` } })) await this.fenceCheckpoint(name);
  }

  async fenceCheckpoint(name: string): Promise<{ fence: number; position: Checkpoint }> {
    // Two processes taking it at once: one inserts the next number, the other fails on the unique key and goes on.
    for (let attempt = 0; ; attempt++) {
      const fence = (await this.currentFence(name)) + 1;
      try {
        await this.fences.insertOne({ _id: `${name}#${fence}`, name, fence });
        await this.fences.deleteMany({ name, fence: { $lt: fence } });
        return { fence, position: await this.loadCheckpoint(name) };
      } catch (err) {
        if ((err as { code?: number }).code !== 11000 || attempt >= 100) throw err;
      }
    }
  }

  private async currentFence(name: string): Promise<number> {
    return (await this.fences.find({ name }).sort({ fence: -1 }).limit(1).next())?.fence ?? 0;
  }

  async loadCheckpoints(prefix: string): Promise<Map<string, Checkpoint>> {
    const found = await (await this.pairs(CHECKPOINTS)).current.find({ id: { $regex: `^${escapeRegex(prefix)}` } } as MongoFilter<Stored>).toArray();
    return new Map(found.map((c) => [c['id'] as string, (c['position'] as string | null | undefined) ?? null]));
  }

  /** Readiness: the server answers within 2 s. */
  async ping(): Promise<void> {
    await this.db.command({ ping: 1 }, { timeoutMS: 2_000 });
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

interface Fence {
  _id: string;
  name: string;
  fence: number;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
