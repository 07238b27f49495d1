import pg from 'pg';
import { changeSchema, openPreparedPool } from './postgresPool.ts';
import { categoryOf, type EventRegistry, type NewEvent } from '@curbmap/contracts';
import { ClaimConflictError, ConcurrencyError } from '../../errors.ts';
import { rowToEvent, type EventRowColumns } from '../eventRows.ts';
import type { AppendOptions, AppendResult, Checkpoint, EventStore, ReadAllOptions, StoredEvent } from '../../ports/eventStore.ts';

/**
 * The claims among `keys`, one primary-key lookup per key. `key = ANY($1)` lets the planner weigh a batch's 1,000
 * keys against the table and scan all of it instead, even with fresh statistics, until the table is large enough
 * for its cost model to prefer the index (at 380,000 claims it still scanned): each usage batch read every claim.
 * A LIMIT keeps the lateral lookup from being flattened into a join the planner could again answer with a scan.
 */
export const CLAIMED = `SELECT k.key, c.position FROM unnest($1::text[]) AS k(key)
  CROSS JOIN LATERAL (SELECT position FROM event_claims WHERE event_claims.key = k.key LIMIT 1) AS c`;

/**
 * The advisory lock (shared, two-key form) every insert into `events` takes before its first row: the table's
 * statement trigger takes it (SCHEMA), so a writer of any version does, before the insert gives its transaction an id,
 * and holds it until it commits. A transaction that wrote anything before its events is refused: it had an id
 * without the lock, and a reader could have passed it. (Readers use the primary: a standby's pg_locks is not its.)
 */
export const APPENDING_LOCK = [0x63757262, 0x61707064] as const; // "curb", "appd"

/** The body of the trigger function that takes APPENDING_LOCK (SCHEMA). */
const APPENDING = `
BEGIN
  -- Once per transaction (the setting is undone with a subtransaction that is rolled back, and so is the lock).
  IF current_setting('curbmap.appending', true) IS DISTINCT FROM 'on' THEN
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
      RAISE EXCEPTION 'events must be the first rows a transaction writes: it has a transaction id already, and readers could pass its events';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(${APPENDING_LOCK[0]}, ${APPENDING_LOCK[1]});
    PERFORM set_config('curbmap.appending', 'on', true);
  END IF;
  RETURN NULL;
END`;

/**
 * Below this transaction id the log holds no event that can still commit: the oldest transaction running at a
 * snapshot that may be an append, or the snapshot's xmax. Every running one counts except those pg_locks showed
 * holding their id without APPENDING_LOCK: writers of read models and anything else. pg_locks is read FIRST, in a
 * statement of its own, and the snapshot taken after it (a volatile function's statements each take one under READ
 * COMMITTED): a transaction shown without the lock and still running at the snapshot never appends (the trigger),
 * and one that ended in between is not in the snapshot. So a later computation, in any process, never answers
 * below an earlier one: with the snapshot first, one that ended between the two counted as a possible append, and a
 * reader that took the head under a higher bound read short of it and moved past events (a period close in one
 * process against rollups fed by the relay in another). One running with no lock row counts too: an id enters the
 * running set before its lock row exists. Before all this, the bound was the snapshot's xmin, and any long
 * transaction of the cluster (a projection's batch) held every reader back.
 */
const READABLE_BELOW_BODY = `
DECLARE
  others xid[];
  snap pg_snapshot;
BEGIN
  IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
    RAISE EXCEPTION 'curbmap_readable_below() needs READ COMMITTED: its snapshot must be newer than its pg_locks scan';
  END IF;
  IF pg_is_in_recovery() THEN
    RAISE EXCEPTION 'curbmap_readable_below() runs on the primary: a standby''s pg_locks and snapshots do not show its appends';
  END IF;
  -- pg_locks read once: both sides of the anti-join from one copy, whatever order a plan reads them in.
  WITH locks AS MATERIALIZED (
    SELECT locktype, database, classid, objid, objsubid, virtualtransaction, transactionid FROM pg_locks
    WHERE granted AND (locktype = 'transactionid' AND mode = 'ExclusiveLock'
      OR locktype = 'advisory' AND objsubid = 2 AND classid = ${APPENDING_LOCK[0]} AND objid = ${APPENDING_LOCK[1]}))
  SELECT coalesce(array_agg(i.transactionid), '{}') INTO others FROM locks i
  WHERE i.locktype = 'transactionid' AND NOT EXISTS (
    SELECT 1 FROM locks a WHERE a.locktype = 'advisory' AND a.virtualtransaction = i.virtualtransaction
      AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
  -- PREPARE TRANSACTION moves a transaction's locks one at a time: one read can show its id and its APPENDING_LOCK
  -- under two holders. Where transactions can be prepared, every running one counts.
    AND current_setting('max_prepared_transactions')::int = 0;
  snap := pg_current_snapshot();
  RETURN least(pg_snapshot_xmax(snap), (SELECT x FROM pg_snapshot_xip(snap) x WHERE NOT xid(x) = ANY (others) ORDER BY x LIMIT 1));
END`;

/** The function's call alone. */
export const READABLE_BOUND = 'SELECT curbmap_readable_below()::text AS bound';
/**
 * The readable bound, as xid8 text: a statement of its own (the read it bounds runs after it), in a transaction
 * of READ COMMITTED whatever the database's or role's default (under REPEATABLE READ the function's snapshot would
 * be its transaction's, taken before the scan). One round trip, and no session setting a pooler could drop.
 */
const READABLE_BELOW = `BEGIN ISOLATION LEVEL READ COMMITTED; ${READABLE_BOUND}; COMMIT`;

/**
 * Creates a function when it is missing or its body differs, and leaves it alone otherwise: replacing one needs
 * its owner, and every process of every service opens the store. The body begins with the definition (a comment),
 * so a change of language or volatility is a change of body too; one made STABLE by hand is made volatile again
 * (both are volatile: curbmap_readable_below's snapshot must be newer than its scan). A change of return type
 * needs a new name: CREATE OR REPLACE cannot make it.
 */
const ensureFunction = (signature: string, definition: string, body: string) => {
  const source = `\n-- ${signature} ${definition}${body}`;
  return `
DO $ensure$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE oid = to_regprocedure('${signature}') AND prosrc = $body$${source}$body$ AND provolatile = 'v') THEN
    CREATE OR REPLACE FUNCTION ${signature} ${definition} AS $body$${source}$body$;
  END IF;
END $ensure$;`;
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  id text NOT NULL UNIQUE,
  stream_id text NOT NULL,
  stream_version integer NOT NULL,
  category text NOT NULL,
  type text NOT NULL,
  schema_version integer NOT NULL,
  occurred_at text NOT NULL,
  organization_id text NOT NULL,
  project_id text,
  correlation_id text NOT NULL,
  causation_id text NOT NULL,
  data jsonb NOT NULL,
  CONSTRAINT events_stream_version UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_commit_order ON events (transaction_id, position);
CREATE TABLE IF NOT EXISTS event_claims (key text PRIMARY KEY, position text NOT NULL);
${ensureFunction('curbmap_appending()', 'RETURNS trigger LANGUAGE plpgsql', APPENDING)}
${ensureFunction('curbmap_readable_below()', 'RETURNS xid8 LANGUAGE plpgsql VOLATILE', READABLE_BELOW_BODY)}
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'events_appending' AND tgrelid = 'events'::regclass) THEN
    CREATE TRIGGER events_appending BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION curbmap_appending();
  END IF;
END $$;
`;

/** Rows a multi-row INSERT carries at once (13 parameters each). */
const CHUNK = 200;
const COLUMNS = 13;

/** What is read of an event: positions as text (bigint and xid8 exceed JavaScript numbers). */
const COLUMNS_READ = 'id, stream_id, stream_version, type, schema_version, occurred_at, organization_id, project_id, correlation_id, causation_id, data, position::text AS pos, transaction_id::text AS tx';
/** The same with the data left unread (ReadAllOptions.envelopeOnly: the event's data is then undefined, as the port says). */
const ENVELOPE_COLUMNS_READ = COLUMNS_READ.replace(', data,', ', NULL AS data,');

interface EventRow extends EventRowColumns {
  pos: string;
  tx: string;
  data: unknown;
}

/** A checkpoint is `<transaction id>/<position>`: commit order first, then the order within a transaction. */
const parse = (c: Checkpoint): [bigint, bigint] => {
  if (c === null) return [0n, 0n];
  const [tx, position] = c.split('/');
  return [BigInt(tx!), BigInt(position!)];
};
const checkpointOf = (tx: string, position: string | number) => `${tx}/${position}`;


/**
 * The EventStore on PostgreSQL. Expected versions are enforced by the unique (stream, version) constraint, so two
 * writers racing for one version never both win. A sequence hands out positions before commit, so readers do not
 * trust the position alone: each event keeps its transaction id, and the log is read in (transaction id, position)
 * order, only below the oldest append still running — a transaction that commits late is never skipped (Emmett's
 * approach, narrowed to appends: a read model's transaction, however long, holds no reader back). Claims are rows
 * of their own table in the same transaction.
 */
export class PostgresEventStore implements EventStore {
  private readonly pool: pg.Pool;
  private readonly registry: EventRegistry | undefined;
  private readonly ownsPool: boolean;

  constructor(pool: pg.Pool, registry?: EventRegistry, options: { ownsPool?: boolean } = {}) {
    this.pool = pool;
    this.registry = registry;
    this.ownsPool = options.ownsPool ?? false;
  }

  /** Connects and creates the tables when they are missing. */
  static async open(connectionString: string, registry?: EventRegistry): Promise<PostgresEventStore> {
    const pool = await openPreparedPool(connectionString, (p) => changeSchema(p, SCHEMA));
    return new PostgresEventStore(pool, registry, { ownsPool: true });
  }

  /**
   * Appends from this process are applied in the order they were made, as the embedded store applies them (first
   * come, first served for versions and claims); other processes are ordered by the stream lock and the constraints.
   */
  append(streamId: string, events: Iterable<NewEvent>, options: AppendOptions): Promise<AppendResult> {
    const run = this.appending.then(() => this.appendNow(streamId, events, options));
    this.appending = run.catch(() => undefined);
    return run;
  }

  private appending: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(position: string, appended: readonly { streamId: string; type: string }[]) => void>();

  /** In-process notification of this process's appends (subscriptions here follow at once; others poll). */
  onAppended(listener: (position: string, appended: readonly { streamId: string; type: string }[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async appendNow(streamId: string, events: Iterable<NewEvent>, { expectedVersion, claims = [] }: AppendOptions): Promise<AppendResult> {
    const iterator = events[Symbol.iterator]();
    const head = iterator.next();
    if (head.done) throw new Error('append needs at least one event');
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Appends to one stream take turns (a lock held until commit): the version read below is the one the insert
      // follows, and `any` never fails on a race. The unique (stream, version) constraint stays as the guard.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [streamId]);
      const replay = await this.idempotentReplay(client, streamId, head.value, iterator);
      if (replay) {
        await client.query('COMMIT');
        return replay;
      }
      const { rows } = await client.query<{ v: number | null }>('SELECT max(stream_version) AS v FROM events WHERE stream_id = $1', [streamId]);
      const current = rows[0]!.v;
      const actual = current ?? -1;
      if (expectedVersion === 'no_stream' ? current !== null : expectedVersion !== 'any' && expectedVersion !== actual) {
        throw new ConcurrencyError(streamId, expectedVersion, current === null ? 'no_stream' : actual);
      }
      const category = categoryOf(streamId);
      let version = actual;
      let chunk: unknown[][] = [];
      const appendedTypes: { streamId: string; type: string }[] = [];
      // The last chunk takes the claims in the same statement: between an append's first insert (which gives it a
      // transaction id, and holds readers back) and its commit, one round trip fewer through this busy process.
      const flush = async (withClaims: boolean) => {
        const values = chunk.map((_, i) => `(${Array.from({ length: COLUMNS }, (__, k) => `$${i * COLUMNS + k + 1}`).join(', ')})`).join(', ');
        const insert = `INSERT INTO events (id, stream_id, stream_version, category, type, schema_version, occurred_at, organization_id, project_id, correlation_id, causation_id, data)
           SELECT id, stream_id, stream_version::int, category, type, schema_version::int, occurred_at, organization_id, project_id, correlation_id, causation_id, data::jsonb
           FROM (VALUES ${values}) AS v(id, stream_id, stream_version, category, type, schema_version, occurred_at, organization_id, project_id, correlation_id, causation_id, data, ord)
           ORDER BY ord::int
           RETURNING position, transaction_id`;
        const sql = withClaims
          ? `WITH inserted AS (${insert}),
               last AS (SELECT inserted.position::text AS position, inserted.transaction_id::text AS tx FROM inserted ORDER BY inserted.position DESC LIMIT 1),
               claimed AS (INSERT INTO event_claims (key, position) SELECT unnest($${chunk.length * COLUMNS + 1}::text[]), (SELECT tx || '/' || position FROM last) ON CONFLICT (key) DO NOTHING RETURNING key)
             SELECT position, tx, ARRAY(SELECT key FROM claimed) AS won FROM last`
          : `WITH inserted AS (${insert}) SELECT inserted.position::text AS position, inserted.transaction_id::text AS tx FROM inserted ORDER BY inserted.position DESC LIMIT 1`;
        const { rows } = await client.query<{ position: string; tx: string; won?: string[] }>(sql, withClaims ? [...chunk.flat(), claims] : chunk.flat());
        chunk = [];
        return rows[0]!;
      };
      for (let next: IteratorResult<NewEvent> = head; !next.done; next = iterator.next()) {
        const e = next.value;
        const readable = this.registry?.forAppend(e);
        version += 1;
        const correlationId = e.correlationId ?? e.id;
        const schemaVersion = e.schemaVersion ?? readable?.schemaVersion ?? 1;
        appendedTypes.push({ streamId, type: e.type });
        if (chunk.length === CHUNK) await flush(false);
        chunk.push([e.id, streamId, version, category, e.type, schemaVersion, e.occurredAt, e.organizationId, e.projectId ?? null, correlationId, e.causationId ?? correlationId, JSON.stringify(e.data), chunk.length]);
      }
      const last = await flush(claims.length > 0);
      const position = checkpointOf(last.tx, last.position);
      if (last.won && last.won.length < new Set(claims).size) {
        const mine = new Set(last.won);
        throw new ClaimConflictError(claims.filter((k) => !mine.has(k)));
      }
      await client.query('COMMIT');
      for (const listener of this.listeners) listener(position, appendedTypes);
      return { nextVersion: version, position };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      // Another writer took this version (or these event ids) between our read and our insert.
      if ((err as { code?: string }).code === '23505' && /events_stream_version|events_id_key/.test(String((err as { constraint?: string }).constraint))) {
        throw new ConcurrencyError(streamId, expectedVersion, 'changed concurrently');
      }
      throw err;
    } finally {
      client.release();
    }
  }

  /** Same event ids already appended to this stream: answer as the first append did. */
  private async idempotentReplay(client: pg.PoolClient, streamId: string, first: NewEvent, rest: Iterator<NewEvent>): Promise<AppendResult | null> {
    const found = await client.query<{ stream_id: string; stream_version: number; position: string; tx: string }>('SELECT stream_id, stream_version, position::text AS position, transaction_id::text AS tx FROM events WHERE id = $1', [first.id]);
    const head = found.rows[0];
    if (!head) return null;
    let lastEvent = first;
    let count = 1;
    for (let next = rest.next(); !next.done; next = rest.next()) {
      lastEvent = next.value;
      count += 1;
    }
    const last = (await client.query<typeof head>('SELECT stream_id, stream_version, position::text AS position, transaction_id::text AS tx FROM events WHERE id = $1', [lastEvent.id])).rows[0];
    if (head.stream_id !== streamId || !last || last.stream_id !== streamId || last.stream_version - head.stream_version !== count - 1) {
      throw new ConcurrencyError(streamId, 'new events', `event ${first.id} already stored elsewhere`);
    }
    return { nextVersion: last.stream_version, position: checkpointOf(last.tx, last.position) };
  }

  /** Every claim, in the order of the appends that made them (copy-log reads them beside the events). */
  async *claimsInPositionOrder(): AsyncIterable<{ key: string; position: string }> {
    let after: [string, string, string] = ['-1', '-1', ''];
    for (;;) {
      const { rows } = await this.pool.query<{ key: string; position: string; tx: string; pos: string }>(
        `SELECT key, position, split_part(position, '/', 1) AS tx, split_part(position, '/', 2) AS pos FROM event_claims
         WHERE (split_part(position, '/', 1)::numeric, split_part(position, '/', 2)::numeric, key) > ($1::numeric, $2::numeric, $3)
         ORDER BY split_part(position, '/', 1)::numeric, split_part(position, '/', 2)::numeric, key LIMIT 5000`,
        after,
      );
      for (const row of rows) yield { key: row.key, position: row.position };
      if (rows.length < 5000) return;
      const last = rows[rows.length - 1]!;
      after = [last.tx, last.pos, last.key];
    }
  }

  async claimed(keys: string[]): Promise<Map<string, string>> {
    const { rows } = await this.pool.query<{ key: string; position: string }>(CLAIMED, [keys]);
    return new Map(rows.map((r) => [r.key, r.position]));
  }

  async *readStream(streamId: string, options: { fromVersion?: number } = {}): AsyncIterable<StoredEvent> {
    let from = options.fromVersion ?? 0;
    for (;;) {
      const { rows } = await this.pool.query<EventRow>(`SELECT ${COLUMNS_READ} FROM events WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT 500`, [streamId, from]);
      for (const row of rows) yield this.toEvent(row);
      if (rows.length < 500) return;
      from = rows[rows.length - 1]!.stream_version + 1;
    }
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterable<StoredEvent> {
    const batchSize = options.batchSize ?? 1000;
    const { categories = [], types = [] } = options.filter ?? {};
    let [tx, position] = parse(options.from ?? null);
    const to = options.to == null ? null : parse(options.to);
    const below = await this.readableBelow();
    for (;;) {
      const params: unknown[] = [tx.toString(), position.toString(), below];
      let sql = `SELECT ${options.envelopeOnly ? ENVELOPE_COLUMNS_READ : COLUMNS_READ} FROM events WHERE (transaction_id, position) > ($1::xid8, $2::bigint) AND transaction_id < $3::xid8`;
      if (to) {
        params.push(to[0].toString(), to[1].toString());
        sql += ` AND (transaction_id, position) <= ($${params.length - 1}::xid8, $${params.length}::bigint)`;
      }
      if (categories.length) {
        params.push(categories);
        sql += ` AND category = ANY($${params.length}::text[])`;
      }
      if (types.length) {
        params.push(types);
        sql += ` AND type = ANY($${params.length}::text[])`;
      }
      params.push(batchSize);
      sql += ` ORDER BY transaction_id, position LIMIT $${params.length}`;
      const { rows } = await this.pool.query<EventRow>(sql, params);
      for (const row of rows) yield options.envelopeOnly ? this.toEvent({ ...row, data: undefined }) : this.toEvent(row);
      if (rows.length < batchSize) return;
      const last = rows[rows.length - 1]!;
      [tx, position] = [BigInt(last.tx), BigInt(last.pos)];
    }
  }

  /** The bound readers use, as xid8 text (READABLE_BELOW). */
  private async readableBelow(): Promise<string> {
    // One result per statement (BEGIN, SELECT, COMMIT): the SELECT's.
    const answered = (await this.pool.query(READABLE_BELOW)) as unknown as pg.QueryResult<{ bound: string }> | pg.QueryResult<{ bound: string }>[];
    const bound = (Array.isArray(answered) ? answered : [answered]).find((r) => r.command === 'SELECT')?.rows[0]?.bound;
    if (bound === undefined) throw new Error('curbmap_readable_below() answered no bound');
    return bound;
  }

  async headPosition(): Promise<Checkpoint> {
    const below = await this.readableBelow();
    const { rows } = await this.pool.query<{ tx: string; position: string }>('SELECT transaction_id::text AS tx, position::text AS position FROM events WHERE transaction_id < $1::xid8 ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1', [below]);
    return rows[0] ? checkpointOf(rows[0].tx, rows[0].position) : null;
  }

  async readAt(position: string): Promise<StoredEvent | null> {
    if (!/^\d+\/\d+$/.test(position)) return null;
    const [tx, at] = parse(position);
    const { rows } = await this.pool.query<EventRow>(`SELECT ${COLUMNS_READ} FROM events WHERE transaction_id = $1::xid8 AND position = $2::bigint`, [tx.toString(), at.toString()]);
    return rows[0] ? this.toEvent(rows[0]) : null;
  }

  compare(a: Checkpoint, b: Checkpoint): number {
    const [ta, pa] = parse(a);
    const [tb, pb] = parse(b);
    return ta !== tb ? (ta < tb ? -1 : 1) : pa === pb ? 0 : pa < pb ? -1 : 1;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  private toEvent(row: EventRow): StoredEvent {
    return rowToEvent(row, checkpointOf(row.tx, row.pos), row.data, this.registry);
  }
}
