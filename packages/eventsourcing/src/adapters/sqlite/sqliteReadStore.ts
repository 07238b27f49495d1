import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { Checkpoint } from '../../ports/eventStore.ts';
import { decodeCursor, encodeCursor, type Document, type Filter, type FindOptions, type Page, type PageOptions, type Range, type ReadStore, type ReadStoreReader, type ReadStoreTx, type Scalar } from '../../ports/readStore.ts';
import type { SqliteDatabase } from './sqliteDatabase.ts';
import { FencedError } from '../../errors.ts';
import { bufferedTx } from '../bufferedTx.ts';
import { IdFilter } from './idFilter.ts';
import { documentJson } from '../../jsonText.ts';

const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** How many documents read by id are kept (their JSON), oldest read first out. */
const CACHED_DOCUMENTS = 10_000;
const COLLECTION = /^[a-z][a-z0-9_]*$/;
/** The page cache while a bulk load runs (KiB). */
const BULK_CACHE_KIB = 64 * 1024;

const organizationIndex = (collection: string) => `CREATE INDEX IF NOT EXISTS rm_${collection}_org_id ON rm_${collection} (organization_id, id)`;

/** A field kept in a column of its own (see SqliteReadStore.columns). */
const columnOf = (name: string) => `f_${name}`;
const COLUMN = /^f_([A-Za-z_][A-Za-z0-9_]*)$/;

/** A field's value as json_extract answers it: booleans 0 or 1, objects and arrays their JSON, nothing NULL. */
function columnValue(value: unknown): SQLInputValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return JSON.stringify(value);
}

/** A write to a bulk load's unindexed table by someone else (its last rowid is not this store's last insert). */
class WrittenBehindLoad extends Error {
  constructor(collection: string) {
    // A UNIQUE failure as the caller handles one: the filter goes, the id's index is built, the batch is retried.
    super(`UNIQUE constraint failed: rm_${collection} was written by another connection during its bulk load`);
  }
}

/** A document a transaction found missing and another one wrote before it committed: retried, it reads it. */
class WrittenSinceRead extends Error {
  constructor(collection: string, id: string) {
    super(`${collection}/${id} was written by another transaction since this one found it missing; retry`);
  }
}

/** A document's insert (an upsert unless it is new), with the columns of its indexed fields. */
function insertSql(collection: string, fields: string[], upsert: boolean): string {
  const columns = fields.map((f) => `, ${columnOf(f)}`).join('');
  const marks = fields.map(() => ', ?').join('');
  const insert = `INSERT INTO rm_${collection} (id, organization_id, doc${columns}) VALUES (?, ?, ?${marks})`;
  return upsert ? `${insert} ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id, doc = excluded.doc${fields.map((f) => `, ${columnOf(f)} = excluded.${columnOf(f)}`).join('')}` : insert;
}

/** Read models as JSON documents, one table per collection, in the same database as the checkpoints. */
export class SqliteReadStore implements ReadStore {
  private readonly tables = new Set<string>();
  private readonly statements = new Map<string, StatementSync>();
  private readonly database: Pick<SqliteDatabase, 'db' | 'path' | 'writeTransaction'>;
  /** A snapshot's reader: reads only, on its own connection, tables made by the writer. */
  private readonly readOnly: boolean;
  /**
   * Documents recently read by id, as their JSON (null: none): the gets on every request's path (API keys,
   * meters, organizations) skip SQLite. This store is the only writer of its tables, and its commits evict what
   * they wrote; a snapshot's reader keeps none (it must see its own point in time).
   */
  private readonly cached = new Map<string, string | null>();
  /** Bulk loads running (they hold the page cache at BULK_CACHE_KIB), and the cache size to go back to after. */
  private readonly loads = new Set<{ collections: string[] }>();
  private cacheSize = 0;
  /**
   * The ids written to each collection in a bulk load (empty when it began; this store its only writer): an id the
   * filter never saw is not in the table, and its get costs no lookup. Most gets of a load are of such new ids.
   */
  private readonly loading = new Map<string, IdFilter | null>();
  /**
   * Collections of a bulk load whose tables have no index yet, not even the id's, and the last rowid this store
   * inserted there: each document is appended, and the id's index is sorted once at the end. A write or a lookup
   * of an id the filter may hold indexes the table first (a lookup would otherwise scan it).
   */
  private readonly heaps = new Map<string, number>();
  /**
   * Per collection, the indexed fields kept in a column of their own (`f_<field>`), written with each document:
   * their indexes are sorted from those values, where json_extract would parse every document's JSON (at a million
   * zones, the lastUpdated index took 3.5 s so). Tables made by a bulk load or indexed while empty have them; a
   * table that held documents when its field was first indexed keeps json_extract.
   */
  private readonly columns = new Map<string, { fields: string[]; insert: string; upsert: string }>();

  constructor(database: Pick<SqliteDatabase, 'db' | 'path' | 'writeTransaction'>, options: { readOnly?: boolean } = {}) {
    this.database = database;
    this.readOnly = options.readOnly ?? false;
    if (!this.readOnly) {
      database.db.exec('CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position TEXT)');
      // Stores made before fences had none: 0 is a fence nobody holds.
      const columns = database.db.prepare('PRAGMA table_info(checkpoints)').all() as { name: string }[];
      if (!columns.some((c) => c.name === 'fence')) database.db.exec('ALTER TABLE checkpoints ADD COLUMN fence INTEGER NOT NULL DEFAULT 0');
    }
  }

  async count(collection: string, filter: Filter): Promise<number> {
    const { where, values } = this.where(collection, filter);
    return Number((this.statement(`SELECT COUNT(*) AS n FROM rm_${collection}${where}`).get(...values) as { n: number }).n);
  }

  /**
   * A read transaction on a second connection: in WAL mode it sees the database as of its first read while the
   * main connection goes on committing. An in-memory database has no second connection: it reads live.
   */
  async snapshot<R>(fn: (reader: ReadStoreReader) => Promise<R>): Promise<R> {
    if (this.database.path === ':memory:') return fn(this);
    const db = new DatabaseSync(this.database.path, { readOnly: true });
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec('BEGIN');
      const reader = new SqliteReadStore({ db, path: this.database.path, writeTransaction: () => { throw new Error('a snapshot is read-only'); } }, { readOnly: true });
      // The first read fixes the snapshot: take it now, not at fn's first query.
      db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
      return await fn(reader);
    } finally {
      if (db.isTransaction) db.exec('COMMIT');
      db.close();
    }
  }

  async get<T extends Document>(collection: string, id: string): Promise<T | null> {
    return this.getSync<T>(collection, id);
  }

  async find<T extends Document>(collection: string, filter: Filter, options: FindOptions = {}): Promise<T[]> {
    return this.select<T>(collection, filter, options);
  }

  private select<T extends Document>(collection: string, filter: Filter, options: FindOptions, extra?: { sql: string; values: (string | number)[] }): T[] {
    const { where, values } = this.where(collection, filter, extra);
    const dir = options.direction === 'desc' ? 'DESC' : 'ASC';
    const order = options.orderBy && options.orderBy !== 'id' ? ` ORDER BY ${this.field(collection, options.orderBy)} ${dir}, id ${dir}` : ` ORDER BY id ${dir}`;
    const limit = options.limit ? ` LIMIT ${Math.trunc(options.limit)}` : '';
    const rows = this.statement(`SELECT doc FROM rm_${collection}${where}${order}${limit}`).all(...values) as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as T);
  }

  private where(collection: string, filter: Filter, extra?: { sql: string; values: (string | number)[] }): { where: string; values: (string | number)[] } {
    this.table(collection);
    const clauses: string[] = [];
    const values: (string | number)[] = [];
    const operators = { $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' } as const;
    for (const [key, value] of Object.entries(filter)) {
      if (value === null) clauses.push(`${this.field(collection, key)} IS NULL`);
      else if (typeof value === 'object') {
        for (const [op, bound] of Object.entries(value as Range)) {
          const sql = operators[op as keyof typeof operators];
          if (!sql || bound === undefined) throw new Error(`unsupported operator ${op} on ${key}`);
          clauses.push(`${this.field(collection, key)} ${sql} ?`);
          values.push(bound);
        }
      } else {
        clauses.push(`${this.field(collection, key)} = ?`);
        values.push(typeof value === 'boolean' ? Number(value) : value);
      }
    }
    if (extra?.sql) {
      clauses.push(extra.sql);
      values.push(...extra.values);
    }
    return { where: clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '', values };
  }

  async findPage<T extends Document>(collection: string, filter: Filter, options: PageOptions): Promise<Page<T>> {
    const orderBy = options.orderBy ?? 'id';
    this.table(collection);
    const by = this.field(collection, orderBy);
    const after = options.after ? decodeCursor(options.after) : null;
    const desc = options.direction === 'desc';
    const where: Filter = { ...filter };
    const extra: { sql: string; values: (string | number)[] } = { sql: '', values: [] };
    if (after) {
      const cmp = desc ? '<' : '>';
      extra.sql = orderBy === 'id' ? `id ${cmp} ?` : `(${by} ${cmp} ? OR (${by} = ? AND id ${cmp} ?))`;
      extra.values = orderBy === 'id' ? [after.id] : [after.value as string | number, after.value as string | number, after.id];
    }
    const limit = Math.max(1, Math.trunc(options.limit));
    const items = await this.select<T>(collection, where, { orderBy, direction: options.direction ?? 'asc', limit: limit + 1 }, extra);
    const more = items.length > limit;
    if (more) items.pop();
    const last = items[items.length - 1];
    return { items, next: more && last ? encodeCursor({ value: orderBy === 'id' ? last.id : (last[orderBy] as Scalar), id: last.id }) : null };
  }

  /**
   * Documents touched in a transaction are cached and written once at commit: a batch of events that updates
   * the same counter a thousand times costs one write.
   */
  transaction<R>(fn: (tx: ReadStoreTx) => Promise<R>): Promise<R> {
    if (this.readOnly) throw new Error('a snapshot is read-only');
    // Documents a bulk load's id filter said are not there: inserted as new, so a row it missed fails the commit.
    const assumedNew = new Set<string>();
    const { tx, touched, checkpoints } = bufferedTx(async (collection, id) => this.getSync(collection, id, assumedNew), (collection) => this.table(collection));
    // fn reads and decides with awaits; the writes then go in one synchronous transaction (see SqliteDatabase).
    // Transactions are not serialised against each other: each projection writes only its own documents, so a
    // slow or stuck one holds back nobody else.
    return (async () => {
      const result = await fn(tx);
      // New: looked up and found missing by the load's filter, or put without a look and unknown to it. The filter
      // takes the id as it answers (should the commit fail, an id it holds for nothing costs a lookup, no more).
      const isNew = (collection: string, id: string) => {
        // Not loading (any more: a failure since the get dropped the filter): upserted, through the id's index.
        if (!this.loading.has(collection)) return false;
        const known = this.idFilter(collection).add(id);
        if (assumedNew.size === 0 || !assumedNew.has(`${collection}\u0000${id}`)) return !known;
        // Found missing, and written by another transaction since (its commit added it to the filter): this one
        // decided on a document that is there now. Retried, it reads it.
        if (known) throw new WrittenSinceRead(collection, id);
        return true;
      };
      const rows = touched.map(({ collection, id, doc }) => ({ collection, id, doc, json: doc ? documentJson(doc) : null, new: isNew(collection, id) }));
      // Evicted first: should the commit fail, the next read goes to the table.
      for (const row of rows) {
        this.cached.delete(`${row.collection}\u0000${row.id}`);
        // A document that may be there already (put without a get, or one the filter held) needs the id's index.
        if (!row.new && this.heaps.has(row.collection)) this.indexIds(row.collection);
      }
      // The last rowid of each unindexed table once this commit is in (kept only if it commits).
      const appended = new Map<string, number>();
      try {
        this.database.writeTransaction(() => {
          for (const { collection, id, doc, json, new: isNew } of rows) {
            if (!doc) {
              // Never written (the filter knows every id of the load): nothing to delete.
              if (!isNew) this.statement(`DELETE FROM rm_${collection} WHERE id = ?`).run(id);
              continue;
            }
            const { fields, insert, upsert } = this.columns.get(collection)!;
            const values = fields.length === 0 ? [] : fields.map((f) => columnValue(doc[f]));
            if (isNew) {
              const last = this.heaps.has(collection) ? (appended.get(collection) ?? this.lastRowid(collection)) : undefined;
              const { lastInsertRowid } = this.statement(insert).run(id, doc.organizationId, json, ...values);
              if (last !== undefined) appended.set(collection, Number(lastInsertRowid));
            } else this.statement(upsert).run(id, doc.organizationId, json, ...values);
          }
          for (const [name, { position, fence }] of checkpoints) {
            if (fence === null) this.statement('INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position').run(name, position);
            else if (this.statement('UPDATE checkpoints SET position = ? WHERE name = ? AND fence = ?').run(position, name, fence).changes !== 1) throw new FencedError(name, fence);
          }
        });
      } catch (err) {
        // A document the filter did not know is there: written by someone else (another connection, `make replay`
        // against a running platform; WrittenBehindLoad says so of a table with no index). The filter is wrong for
        // these collections from now on; the caller retries.
        if (/UNIQUE constraint failed/.test(String((err as Error).message))) {
          for (const row of rows) {
            if (!row.new) continue;
            // Without its filter a collection's writes are upserts: its ids need their index.
            this.indexIds(row.collection);
            this.loading.delete(row.collection);
          }
        }
        throw err;
      }
      for (const [collection, rowid] of appended) if (this.heaps.has(collection)) this.heaps.set(collection, rowid);
      return result;
    })();
  }

  async ensureIndex(collection: string, name: string): Promise<void> {
    this.table(collection);
    if (name === 'id' || name === 'organizationId') return;
    const index = `rm_${collection}_${name}_id`;
    if (!FIELD.test(name)) throw new Error(`invalid field name ${name}`);
    // An empty table takes the field as a column (its values written from now on); an index json_extract built
    // before (a reset emptied the table) would then serve no query: it goes. Checked again inside the transaction:
    // another connection may have written a row or added the column since.
    if (!this.columns.get(collection)!.fields.includes(name)) {
      this.database.writeTransaction(() => {
        this.learnColumns(collection);
        const fields = this.columns.get(collection)!.fields;
        // SQLite's names ignore case: a field differing from another only so stays in the JSON.
        const taken = fields.some((f) => f.toLowerCase() === name.toLowerCase());
        if (taken || this.statement(`SELECT 1 FROM rm_${collection} LIMIT 1`).get()) return;
        const old = this.database.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").get(index) as { sql: string } | undefined;
        if (old?.sql.includes('json_extract')) this.database.db.exec(`DROP INDEX ${index}`);
        this.database.db.exec(`ALTER TABLE rm_${collection} ADD COLUMN ${columnOf(name)}`);
        this.setColumns(collection, [...fields, name]);
      });
    }
    // id last: a keyset page (WHERE field = ? AND id > ? ORDER BY id) walks the index without sorting.
    this.database.db.exec(`CREATE INDEX IF NOT EXISTS ${index} ON rm_${collection} (organization_id, ${this.field(collection, name)}, id)`);
  }

  /**
   * Each document of a backlog would otherwise go at random into five B-trees (the id's, the organization's and
   * three fields'): at a million zones that is about 20 KB of WAL per document, three quarters of a catch-up.
   * Appended to a table with no index (ids are checked against the load's IdFilter), each index is then sorted once.
   */
  async bulkLoad(collections: string[], indexes: Record<string, string[]> = {}): Promise<(() => Promise<void>) | null> {
    // Makes each table with its organization's index (a load an earlier process left halfway gets it here)...
    for (const c of collections) this.table(c);
    // ...and a load of these collections this process left halfway (its projection stopped, now started again) too.
    for (const load of [...this.loads]) if (load.collections.some((c) => collections.includes(c))) this.endLoad(load);
    if (collections.some((c) => this.statement(`SELECT 1 FROM rm_${c} LIMIT 1`).get())) return null;
    // Empty: made again with no index at all (a primary key's is one SQLite cannot drop), the fields to index as columns.
    // SQLite's names ignore case: of fields differing only so, the first takes a column, the others stay in the JSON.
    const fieldsOf = (c: string) => {
      const seen = new Set<string>();
      return (indexes[c] ?? []).filter((f) => f !== 'id' && f !== 'organizationId' && !seen.has(f.toLowerCase()) && seen.add(f.toLowerCase()));
    };
    for (const c of collections) for (const f of fieldsOf(c)) if (!FIELD.test(f)) throw new Error(`invalid field name ${f}`);
    this.database.writeTransaction(() => {
      for (const c of collections) this.database.db.exec(`DROP TABLE rm_${c}; CREATE TABLE rm_${c} (id TEXT NOT NULL, organization_id TEXT NOT NULL, doc TEXT NOT NULL${fieldsOf(c).map((f) => `, ${columnOf(f)}`).join('')})`);
    });
    for (const c of collections) this.setColumns(c, fieldsOf(c));
    for (const c of collections) this.heaps.set(c, 0);
    // A larger page cache while loads run: the indexes built at the end sort in memory rather than in temporary files. Back to SQLite's default after the last.
    if (this.loads.size === 0) {
      this.cacheSize = Number((this.database.db.prepare('PRAGMA cache_size').get() as { cache_size: number }).cache_size);
      // threads: the indexes built at the end sort on a helper thread too (the event loop waits for them either way).
      this.database.db.exec(`PRAGMA cache_size = -${BULK_CACHE_KIB}; PRAGMA threads = 2`);
    }
    const load = { collections };
    this.loads.add(load);
    for (const c of collections) this.loading.set(c, null);
    return async () => this.endLoad(load);
  }

  /** Builds the organization's index of each collection of the load, and gives back its filters and cache. */
  private endLoad(load: { collections: string[] }): void {
    if (!this.loads.has(load)) return;
    // Built before the load is let go: should a build fail, the head's retry comes back here and builds again.
    for (const c of load.collections) {
      this.indexIds(c);
      this.database.db.exec(organizationIndex(c));
    }
    this.loads.delete(load);
    for (const c of load.collections) this.loading.delete(c);
    if (this.loads.size === 0) this.database.db.exec(`PRAGMA cache_size = ${this.cacheSize}; PRAGMA threads = 0`);
  }

  async loadCheckpoint(name: string): Promise<Checkpoint> {
    const row = this.statement('SELECT position FROM checkpoints WHERE name = ?').get(name) as { position: string | null } | undefined;
    return row?.position ?? null;
  }

  async reset(checkpointName: string, collections: string[]): Promise<void> {
    for (const c of collections) this.table(c);
    this.cached.clear();
    this.database.writeTransaction(() => {
      for (const c of collections) {
        this.database.db.exec(`DELETE FROM rm_${c}`);
        if (this.heaps.has(c)) this.heaps.set(c, 0);
      }
      this.statement('DELETE FROM checkpoints WHERE name = ?').run(checkpointName);
      // Parts forget where they stood but keep their fences, raised: a process still holding one writes nothing.
      this.statement("UPDATE checkpoints SET position = NULL, fence = fence + 1 WHERE substr(name, 1, length(?) + 1) = ? || '@'").run(checkpointName, checkpointName);
    });
  }

  async fenceCheckpoint(name: string): Promise<{ fence: number; position: Checkpoint }> {
    let taken: { fence: number; position: string | null } | undefined;
    this.database.writeTransaction(() => {
      taken = this.statement('INSERT INTO checkpoints (name, position, fence) VALUES (?, NULL, 1) ON CONFLICT (name) DO UPDATE SET fence = fence + 1 RETURNING fence, position').get(name) as typeof taken;
    });
    return { fence: Number(taken!.fence), position: taken!.position };
  }

  async loadCheckpoints(prefix: string): Promise<Map<string, Checkpoint>> {
    const rows = this.statement('SELECT name, position FROM checkpoints WHERE substr(name, 1, length(?)) = ?').all(prefix, prefix) as { name: string; position: string | null }[];
    return new Map(rows.map((r) => [r.name, r.position]));
  }

  private getSync<T extends Document>(collection: string, id: string, assumedNew?: Set<string>): T | null {
    const key = `${collection}\u0000${id}`;
    const hit = this.readOnly ? undefined : this.cached.get(key);
    if (hit !== undefined) return hit === null ? null : (JSON.parse(hit) as T);
    if (!this.readOnly && this.loading.has(collection) && !this.loading.get(collection)?.has(id)) {
      assumedNew?.add(key);
      return null;
    }
    this.table(collection);
    if (this.heaps.has(collection)) this.indexIds(collection);
    const row = this.statement(`SELECT doc FROM rm_${collection} WHERE id = ?`).get(id) as { doc: string } | undefined;
    if (!this.readOnly) {
      if (this.cached.size >= CACHED_DOCUMENTS) this.cached.delete(this.cached.keys().next().value!);
      this.cached.set(key, row?.doc ?? null);
    }
    return row ? (JSON.parse(row.doc) as T) : null;
  }

  private idFilter(collection: string): IdFilter {
    let filter = this.loading.get(collection);
    if (!filter) this.loading.set(collection, (filter = new IdFilter()));
    return filter;
  }

  private table(collection: string): void {
    if (this.tables.has(collection)) return;
    if (!COLLECTION.test(collection)) throw new Error(`invalid collection name ${collection}`);
    if (this.readOnly) {
      // The writer creates collections; a reader cannot (and a missing one is a caller error).
      const exists = this.database.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(`rm_${collection}`);
      if (!exists) throw new Error(`collection ${collection} does not exist yet`);
      this.learnColumns(collection);
      this.tables.add(collection);
      return;
    }
    this.database.db.exec(`CREATE TABLE IF NOT EXISTS rm_${collection} (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, doc TEXT NOT NULL); ${organizationIndex(collection)}`);
    // A bulk load an earlier process left halfway left its table without the id's index.
    const indexes = this.database.db.prepare(`PRAGMA index_list(rm_${collection})`).all() as { unique: number }[];
    if (!indexes.some((i) => i.unique)) this.buildIdIndex(collection);
    this.learnColumns(collection);
    this.tables.add(collection);
  }

  /** The fields an existing table keeps as columns (made by an earlier process). */
  private learnColumns(collection: string): void {
    const names = (this.database.db.prepare(`PRAGMA table_info(rm_${collection})`).all() as { name: string }[]).map((c) => COLUMN.exec(c.name)?.[1]).filter((f): f is string => f !== undefined);
    this.setColumns(collection, names);
  }

  private setColumns(collection: string, fields: string[]): void {
    this.columns.set(collection, { fields, insert: insertSql(collection, fields, false), upsert: insertSql(collection, fields, true) });
  }

  /** Where a query finds a field: a column (the document's own, or one kept for its index), else in the JSON. */
  private field(collection: string, name: string): string {
    if (!FIELD.test(name)) throw new Error(`invalid field name ${name}`);
    if (name === 'id') return 'id';
    if (name === 'organizationId') return 'organization_id';
    return this.columns.get(collection)?.fields.includes(name) ? columnOf(name) : `json_extract(doc, '$.${name}')`;
  }

  /** Ends a bulk load's unindexed phase for the collection: its id's index, sorted once from what it holds. */
  private indexIds(collection: string): void {
    if (!this.heaps.has(collection)) return;
    this.buildIdIndex(collection);
    this.heaps.delete(collection);
  }

  private buildIdIndex(collection: string): void {
    const create = `CREATE UNIQUE INDEX IF NOT EXISTS rm_${collection}_id ON rm_${collection} (id)`;
    try {
      this.database.db.exec(create);
    } catch (err) {
      if (!/UNIQUE constraint failed/.test(String((err as Error).message))) throw err;
      // An id written twice: only by another writer behind this store's back. Its latest write stands.
      this.database.writeTransaction(() => {
        this.database.db.exec(`DELETE FROM rm_${collection} WHERE rowid NOT IN (SELECT MAX(rowid) FROM rm_${collection} GROUP BY id); ${create}`);
      });
    }
  }

  /** An unindexed table's last rowid, which must be the last this store inserted: anything else is another writer's. */
  private lastRowid(collection: string): number {
    const last = Number((this.statement(`SELECT MAX(rowid) AS last FROM rm_${collection}`).get() as { last: number | null }).last ?? 0);
    if (last !== this.heaps.get(collection)) throw new WrittenBehindLoad(collection);
    return last;
  }

  private statement(sql: string): StatementSync {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.database.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}
