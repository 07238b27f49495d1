import pg from 'pg';
import { changeSchema, openPreparedPool } from './postgresPool.ts';
import type { Checkpoint } from '../../ports/eventStore.ts';
import { FencedError } from '../../errors.ts';
import { bufferedTx } from '../bufferedTx.ts';
import { decodeCursor, encodeCursor, type Document, type Filter, type FindOptions, type Page, type PageOptions, type Range, type ReadStore, type ReadStoreReader, type ReadStoreTx, type Scalar } from '../../ports/readStore.ts';

const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COLLECTION = /^[a-z][a-z0-9_]*$/;
type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** A document field as SQL: the key columns as they are, the rest from the JSONB document. */
function column(name: string): string {
  if (!FIELD.test(name)) throw new Error(`invalid field name ${name}`);
  return name === 'id' ? 'id' : name === 'organizationId' ? 'organization_id' : `(doc->'${name}')`;
}
/** How a value compares with a field: text for the key columns, JSONB (numbers numerically) for the rest. */
const param = (name: string, value: Scalar | string | number) => (name === 'id' || name === 'organizationId' ? String(value) : JSON.stringify(value));
const cast = (name: string) => (name === 'id' || name === 'organizationId' ? '' : '::jsonb');

/** The reads, on the pool or on a snapshot's connection. */
class PostgresReader implements ReadStoreReader {
  protected readonly db: Queryable;
  protected readonly ensure: (collection: string) => Promise<void>;

  constructor(db: Queryable, ensure: (collection: string) => Promise<void>) {
    this.db = db;
    this.ensure = ensure;
  }

  async get<T extends Document>(collection: string, id: string): Promise<T | null> {
    await this.ensure(collection);
    const { rows } = await this.db.query<{ doc: T }>(`SELECT doc FROM rm_${collection} WHERE id = $1`, [id]);
    return rows[0]?.doc ?? null;
  }

  async find<T extends Document>(collection: string, filter: Filter, options: FindOptions = {}): Promise<T[]> {
    return this.select<T>(collection, filter, { orderBy: options.orderBy ?? 'id', direction: options.direction ?? 'asc', limit: options.limit ?? null });
  }

  async findPage<T extends Document>(collection: string, filter: Filter, options: PageOptions): Promise<Page<T>> {
    const orderBy = options.orderBy ?? 'id';
    const direction = options.direction ?? 'asc';
    const after = options.after ? decodeCursor(options.after) : null;
    const items = await this.select<T>(collection, filter, { orderBy, direction, limit: options.limit + 1, after });
    const more = items.length > options.limit;
    if (more) items.pop();
    const last = items[items.length - 1];
    return { items, next: more && last ? encodeCursor({ value: orderBy === 'id' ? last.id : (last[orderBy] as Scalar), id: last.id }) : null };
  }

  async count(collection: string, filter: Filter): Promise<number> {
    await this.ensure(collection);
    const { where, values } = this.where(filter);
    const { rows } = await this.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM rm_${collection}${where}`, values);
    return Number(rows[0]!.n);
  }

  async loadCheckpoint(name: string): Promise<Checkpoint> {
    const { rows } = await this.db.query<{ position: string | null }>('SELECT position FROM checkpoints WHERE name = $1', [name]);
    return rows[0]?.position ?? null;
  }

  private async select<T extends Document>(collection: string, filter: Filter, o: { orderBy: string; direction: 'asc' | 'desc'; limit: number | null; after?: { value: Scalar; id: string } | null }): Promise<T[]> {
    await this.ensure(collection);
    const { values, clauses } = this.where(filter);
    const order = column(o.orderBy);
    const dir = o.direction === 'desc' ? 'DESC' : 'ASC';
    if (o.after) {
      // Keyset: strictly after the cursor's (value, id) in the page's order; ties are broken by id.
      const cmp = o.direction === 'desc' ? '<' : '>';
      if (o.orderBy === 'id') {
        values.push(o.after.id);
        clauses.push(`id ${cmp} $${values.length}`);
      } else {
        values.push(param(o.orderBy, o.after.value as Scalar), o.after.id);
        clauses.push(`(${order}, id) ${cmp} ($${values.length - 1}${cast(o.orderBy)}, $${values.length})`);
      }
    }
    const whereAll = clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '';
    const limit = o.limit === null ? '' : ` LIMIT ${Number(o.limit)}`;
    const orderSql = o.orderBy === 'id' ? `id ${dir}` : `${order} ${dir}, id ${dir}`;
    const { rows } = await this.db.query<{ doc: T }>(`SELECT doc FROM rm_${collection}${whereAll} ORDER BY ${orderSql}${limit}`, values);
    return rows.map((r) => r.doc);
  }

  private where(filter: Filter): { where: string; values: unknown[]; clauses: string[] } {
    const clauses: string[] = [];
    const values: unknown[] = [];
    const operators = { $lt: '<', $lte: '<=', $gt: '>', $gte: '>=' } as const;
    for (const [key, value] of Object.entries(filter)) {
      const col = column(key);
      if (value === null) {
        clauses.push(key === 'id' || key === 'organizationId' ? `${col} IS NULL` : `(${col} IS NULL OR ${col} = 'null'::jsonb)`);
      } else if (typeof value === 'object') {
        for (const [op, bound] of Object.entries(value as Range)) {
          const sql = operators[op as keyof typeof operators];
          if (!sql || bound === undefined) throw new Error(`unsupported operator ${op} on ${key}`);
          values.push(param(key, bound));
          clauses.push(`${col} ${sql} $${values.length}${cast(key)}`);
        }
      } else {
        values.push(param(key, value));
        clauses.push(`${col} = $${values.length}${cast(key)}`);
      }
    }
    return { where: clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '', values, clauses };
  }
}

/**
 * Read models on PostgreSQL: a table per collection of JSONB documents, the checkpoints beside them, a
 * projection's documents and checkpoint written in one transaction. Text keys compare byte-wise (COLLATE "C"),
 * as in the embedded store; JSONB values compare numbers as numbers.
 */
export class PostgresReadStore extends PostgresReader implements ReadStore {
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly tables: Map<string, Promise<void>>;

  private constructor(pool: pg.Pool, ownsPool: boolean, tables: Map<string, Promise<void>>) {
    const ensure = (collection: string): Promise<void> => {
      if (!COLLECTION.test(collection)) return Promise.reject(new Error(`invalid collection name ${collection}`));
      let made = tables.get(collection);
      if (!made) {
        made = changeSchema(pool, `CREATE TABLE IF NOT EXISTS rm_${collection} (id text COLLATE "C" PRIMARY KEY, organization_id text COLLATE "C" NOT NULL, doc jsonb NOT NULL); CREATE INDEX IF NOT EXISTS rm_${collection}_org_id ON rm_${collection} (organization_id, id)`);
        made.catch(() => tables.delete(collection));
        tables.set(collection, made);
      }
      return made;
    };
    super(pool, ensure);
    this.pool = pool;
    this.ownsPool = ownsPool;
    this.tables = tables;
  }

  static async open(connectionString: string): Promise<PostgresReadStore> {
    const pool = await openPreparedPool(connectionString, async (p) => {
      await changeSchema(p, 'CREATE TABLE IF NOT EXISTS checkpoints (name text PRIMARY KEY, position text, fence bigint NOT NULL DEFAULT 0)');
      // Stores made before fences had none (0 is a fence nobody holds). Asked first: the ALTER would lock the table
      // every process's checkpoints go through, at every start.
      const { rows } = await p.query("SELECT 1 FROM information_schema.columns WHERE table_name = 'checkpoints' AND column_name = 'fence' AND table_schema = current_schema()");
      if (rows.length === 0) await changeSchema(p, 'ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS fence bigint NOT NULL DEFAULT 0');
    });
    return new PostgresReadStore(pool, true, new Map());
  }

  /** One connection in REPEATABLE READ, read only: what was committed when fn began, whatever is written meanwhile. */
  snapshot<R>(fn: (reader: ReadStoreReader) => Promise<R>): Promise<R> {
    return this.inTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (client) => {
      // The snapshot is taken at the first query: take it now, not at fn's first read.
      await client.query('SELECT 1');
      return fn(new PostgresReader(client, (c) => this.ensure(c)));
    });
  }

  /** fn reads and decides; its writes then go in one transaction with its checkpoint, or not at all. */
  async transaction<R>(fn: (tx: ReadStoreTx) => Promise<R>): Promise<R> {
    const { tx, touched, checkpoints } = bufferedTx((collection, id) => this.get(collection, id), (collection) => this.ensure(collection));
    const result = await fn(tx);
    const rows = touched.map((t) => ({ ...t, json: t.doc ? JSON.stringify(t.doc) : null }));
    await this.inTransaction('BEGIN', async (client) => {
      // Fenced checkpoints first: the row stays locked to the commit, so a process taking the checkpoint over waits
      // for this transaction and reads what it wrote, or this one finds the fence moved and writes nothing.
      for (const [name, { position, fence }] of checkpoints) {
        if (fence === null) continue;
        const { rowCount } = await client.query('UPDATE checkpoints SET position = $2 WHERE name = $1 AND fence = $3', [name, position, fence]);
        if (rowCount !== 1) throw new FencedError(name, fence);
      }
      for (const { collection, id, doc, json } of rows) {
        if (doc) await client.query(`INSERT INTO rm_${collection} (id, organization_id, doc) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id, doc = excluded.doc`, [id, doc.organizationId, json]);
        else await client.query(`DELETE FROM rm_${collection} WHERE id = $1`, [id]);
      }
      for (const [name, { position, fence }] of checkpoints) {
        if (fence === null) await client.query('INSERT INTO checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET position = excluded.position', [name, position]);
      }
    });
    return result;
  }

  /** fn on one connection between `begin` and COMMIT; rolled back if it throws. */
  private async inTransaction<R>(begin: string, fn: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await this.pool.connect();
    try {
      await client.query(begin);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async ensureIndex(collection: string, field: string): Promise<void> {
    await this.ensure(collection);
    if (field === 'id' || field === 'organizationId') return;
    await changeSchema(this.pool, `CREATE INDEX IF NOT EXISTS rm_${collection}_${field}_id ON rm_${collection} (organization_id, ${column(field)}, id)`);
  }

  async reset(checkpointName: string, collections: string[]): Promise<void> {
    for (const c of collections) await this.ensure(c);
    await this.inTransaction('BEGIN', async (client) => {
      for (const c of collections) await client.query(`DELETE FROM rm_${c}`);
      await client.query('DELETE FROM checkpoints WHERE name = $1', [checkpointName]);
      // Parts forget where they stood but keep their fences, raised: a process still holding one writes nothing.
      await client.query("UPDATE checkpoints SET position = NULL, fence = fence + 1 WHERE starts_with(name, $1 || '@')", [checkpointName]);
    });
  }

  async fenceCheckpoint(name: string): Promise<{ fence: number; position: Checkpoint }> {
    const { rows } = await this.pool.query<{ fence: string; position: string | null }>(
      'INSERT INTO checkpoints (name, position, fence) VALUES ($1, NULL, 1) ON CONFLICT (name) DO UPDATE SET fence = checkpoints.fence + 1 RETURNING fence::text, position',
      [name],
    );
    return { fence: Number(rows[0]!.fence), position: rows[0]!.position };
  }

  async loadCheckpoints(prefix: string): Promise<Map<string, Checkpoint>> {
    const { rows } = await this.pool.query<{ name: string; position: string | null }>('SELECT name, position FROM checkpoints WHERE starts_with(name, $1)', [prefix]);
    return new Map(rows.map((r) => [r.name, r.position]));
  }

  async close(): Promise<void> {
    this.tables.clear();
    if (this.ownsPool) await this.pool.end();
  }
}
