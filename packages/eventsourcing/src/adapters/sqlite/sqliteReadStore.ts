import type { StatementSync } from 'node:sqlite';
import type { Checkpoint } from '../../ports/eventStore.ts';
import { decodeCursor, encodeCursor, type Document, type Filter, type FindOptions, type Page, type PageOptions, type Range, type ReadStore, type ReadStoreTx, type Scalar } from '../../ports/readStore.ts';
import type { SqliteDatabase } from './sqliteDatabase.ts';

const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COLLECTION = /^[a-z][a-z0-9_]*$/;

function field(name: string): string {
  if (!FIELD.test(name)) throw new Error(`invalid field name ${name}`);
  return name === 'id' ? 'id' : name === 'organizationId' ? 'organization_id' : `json_extract(doc, '$.${name}')`;
}

/** Read models as JSON documents, one table per collection, in the same database as the checkpoints. */
export class SqliteReadStore implements ReadStore {
  private readonly tables = new Set<string>();
  private readonly statements = new Map<string, StatementSync>();
  private readonly database: SqliteDatabase;

  constructor(database: SqliteDatabase) {
    this.database = database;
    database.db.exec('CREATE TABLE IF NOT EXISTS checkpoints (name TEXT PRIMARY KEY, position TEXT)');
  }

  async get<T extends Document>(collection: string, id: string): Promise<T | null> {
    return this.getSync<T>(collection, id);
  }

  async find<T extends Document>(collection: string, filter: Filter, options: FindOptions = {}): Promise<T[]> {
    return this.select<T>(collection, filter, options);
  }

  private select<T extends Document>(collection: string, filter: Filter, options: FindOptions, extra?: { sql: string; values: (string | number)[] }): T[] {
    this.table(collection);
    const clauses: string[] = [];
    const values: (string | number)[] = [];
    const operators = { $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' } as const;
    for (const [key, value] of Object.entries(filter)) {
      if (value === null) clauses.push(`${field(key)} IS NULL`);
      else if (typeof value === 'object') {
        for (const [op, bound] of Object.entries(value as Range)) {
          const sql = operators[op as keyof typeof operators];
          if (!sql || bound === undefined) throw new Error(`unsupported operator ${op} on ${key}`);
          clauses.push(`${field(key)} ${sql} ?`);
          values.push(bound);
        }
      } else {
        clauses.push(`${field(key)} = ?`);
        values.push(typeof value === 'boolean' ? Number(value) : value);
      }
    }
    if (extra?.sql) {
      clauses.push(extra.sql);
      values.push(...extra.values);
    }
    const where = clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '';
    const dir = options.direction === 'desc' ? 'DESC' : 'ASC';
    const order = options.orderBy && options.orderBy !== 'id' ? ` ORDER BY ${field(options.orderBy)} ${dir}, id ${dir}` : ` ORDER BY id ${dir}`;
    const limit = options.limit ? ` LIMIT ${Math.trunc(options.limit)}` : '';
    const rows = this.statement(`SELECT doc FROM rm_${collection}${where}${order}${limit}`).all(...values) as { doc: string }[];
    return rows.map((r) => JSON.parse(r.doc) as T);
  }

  async findPage<T extends Document>(collection: string, filter: Filter, options: PageOptions): Promise<Page<T>> {
    const orderBy = options.orderBy ?? 'id';
    const after = options.after ? decodeCursor(options.after) : null;
    const desc = options.direction === 'desc';
    const where: Filter = { ...filter };
    const extra: { sql: string; values: (string | number)[] } = { sql: '', values: [] };
    if (after) {
      const cmp = desc ? '<' : '>';
      extra.sql = orderBy === 'id' ? `id ${cmp} ?` : `(${field(orderBy)} ${cmp} ? OR (${field(orderBy)} = ? AND id ${cmp} ?))`;
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
    const touched = new Map<string, { collection: string; id: string; doc: Document | null }>();
    const checkpoints = new Map<string, Checkpoint>();
    const keyOf = (collection: string, id: string) => `${collection}\u0000${id}`;
    const tx: ReadStoreTx = {
      get: async <T extends Document>(collection: string, id: string) => {
        const hit = touched.get(keyOf(collection, id));
        return hit ? (hit.doc as T | null) : this.getSync<T>(collection, id);
      },
      put: async (collection, doc) => {
        this.table(collection);
        // The document is serialised at commit: a caller must not change it after put unless it puts it again.
        touched.set(keyOf(collection, doc.id), { collection, id: doc.id, doc });
      },
      delete: async (collection, id) => {
        this.table(collection);
        touched.set(keyOf(collection, id), { collection, id, doc: null });
      },
      saveCheckpoint: async (name, position) => {
        checkpoints.set(name, position);
      },
    };
    // fn reads and decides with awaits; the writes then go in one synchronous transaction (see SqliteDatabase).
    // Transactions are not serialised against each other: each projection writes only its own documents, so a
    // slow or stuck one holds back nobody else.
    return (async () => {
      const result = await fn(tx);
      const rows = [...touched.values()].map(({ collection, id, doc }) => ({ collection, id, doc, json: doc ? JSON.stringify(doc) : null }));
      this.database.writeTransaction(() => {
        for (const { collection, id, doc, json } of rows) {
          if (doc) this.statement(`INSERT INTO rm_${collection} (id, organization_id, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id, doc = excluded.doc`).run(id, doc.organizationId, json);
          else this.statement(`DELETE FROM rm_${collection} WHERE id = ?`).run(id);
        }
        for (const [name, position] of checkpoints) {
          this.statement('INSERT INTO checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position').run(name, position);
        }
      });
      return result;
    })();
  }

  async ensureIndex(collection: string, name: string): Promise<void> {
    this.table(collection);
    if (name === 'id' || name === 'organizationId') return;
    this.database.db.exec(`CREATE INDEX IF NOT EXISTS rm_${collection}_${name} ON rm_${collection} (organization_id, ${field(name)})`);
  }

  async loadCheckpoint(name: string): Promise<Checkpoint> {
    const row = this.statement('SELECT position FROM checkpoints WHERE name = ?').get(name) as { position: string | null } | undefined;
    return row?.position ?? null;
  }

  async reset(checkpointName: string, collections: string[]): Promise<void> {
    for (const c of collections) this.table(c);
    this.database.writeTransaction(() => {
      for (const c of collections) {
        this.database.db.exec(`DELETE FROM rm_${c}`);
      }
      this.statement('DELETE FROM checkpoints WHERE name = ?').run(checkpointName);
    });
  }

  private getSync<T extends Document>(collection: string, id: string): T | null {
    this.table(collection);
    const row = this.statement(`SELECT doc FROM rm_${collection} WHERE id = ?`).get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as T) : null;
  }

  private table(collection: string): void {
    if (this.tables.has(collection)) return;
    if (!COLLECTION.test(collection)) throw new Error(`invalid collection name ${collection}`);
    this.database.db.exec(`
      CREATE TABLE IF NOT EXISTS rm_${collection} (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, doc TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS rm_${collection}_org ON rm_${collection} (organization_id);`);
    this.tables.add(collection);
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
