import type { StatementSync } from 'node:sqlite';
import { categoryOf, type EventRegistry, type NewEvent } from '@curbmap/contracts';
import { ClaimConflictError, ConcurrencyError } from '../../errors.ts';
import type { AppendOptions, AppendResult, Checkpoint, EventPage, EventStore, ReadAllOptions, StoredEvent } from '../../ports/eventStore.ts';
import { envelopeOf } from '../../ports/subscriptions.ts';
import { rememberDataText } from '../../jsonText.ts';
import type { SqliteDatabase } from './sqliteDatabase.ts';

// AUTOINCREMENT: a position is never handed out twice, even after the newest rows are gone.
const EVENTS_TABLE = (name: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  stream_id TEXT NOT NULL,
  stream_version INTEGER NOT NULL,
  category TEXT NOT NULL,
  type TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  occurred_at TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  project_id TEXT,
  correlation_id TEXT NOT NULL,
  causation_id TEXT NOT NULL,
  data TEXT NOT NULL,
  UNIQUE (stream_id, stream_version)
);`;

/** Creates the events table, or moves a table made before positions were AUTOINCREMENT into one that is. */
const CLAIMS_TABLE = 'CREATE TABLE IF NOT EXISTS event_claims (key TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID';

function ensureEventsTable(database: SqliteDatabase): void {
  const db = database.db;
  const existing = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").get() as { sql: string } | undefined;
  if (!existing) {
    db.exec(EVENTS_TABLE('events'));
    return;
  }
  if (/AUTOINCREMENT/i.test(existing.sql)) return;
  database.writeTransaction(() => {
    db.exec(EVENTS_TABLE('events_autoincrement'));
    db.exec('INSERT INTO events_autoincrement SELECT * FROM events ORDER BY position');
    db.exec('DROP TABLE events');
    db.exec('ALTER TABLE events_autoincrement RENAME TO events');
  });
}

/**
 * The columns read back, in this order: reads return rows as arrays (node:sqlite builds no object with named
 * properties per row; a replay of a million events reads them all).
 */
const COLUMNS = 'position, id, stream_id, stream_version, type, schema_version, occurred_at, organization_id, project_id, correlation_id, causation_id, data';
/** The same with the data left unread (an envelope-only read: SQLite then never loads a large row's overflow pages). */
const ENVELOPE_COLUMNS = COLUMNS.replace(/, data$/, ', NULL');
type EventRow = [position: number, id: string, streamId: string, streamVersion: number, type: string, schemaVersion: number, occurredAt: string, organizationId: string, projectId: string | null, correlationId: string, causationId: string, data: string | null];

/** Told after each commit: the position of its last event, and what it appended (stream and type of each). */
type Listener = (position: string, appended: readonly AppendedEvent[]) => void;
export interface AppendedEvent {
  streamId: string;
  type: string;
}

type AppendOutcome = AppendResult | (AppendResult & { written: StoredEvent[]; sizes: number[] });
interface PendingAppend {
  streamId: string;
  events: Iterable<NewEvent>;
  options: AppendOptions;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The largest event data (JSON characters) of each category and type, kept with the appends: a reader knows
 * before it reads a page whether the page may be large. Made from the events themselves the first time.
 */
/** Raises a kind's largest size, never lowers it (other processes raise it too). */
const RAISE_SIZE = 'INSERT INTO event_sizes (category, type, max_size) VALUES (?, ?, ?) ON CONFLICT (category, type) DO UPDATE SET max_size = max(max_size, excluded.max_size)';

function ensureSizesTable(database: SqliteDatabase): void {
  const db = database.db;
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_sizes'").get()) return;
  // Measured outside the write lock (a long log takes seconds to read; writers elsewhere would time out), then
  // recorded in a short transaction; appends made meanwhile by this code raise the values themselves.
  const measured = db.prepare('SELECT category, type, max(length(data)) AS size FROM events GROUP BY category, type').all() as { category: string; type: string; size: number }[];
  database.writeTransaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS event_sizes (category TEXT NOT NULL, type TEXT NOT NULL, max_size INTEGER NOT NULL, PRIMARY KEY (category, type)) WITHOUT ROWID');
    const raise = db.prepare(RAISE_SIZE);
    for (const m of measured) raise.run(m.category, m.type, m.size);
  });
}

/**
 * How many recently appended events are kept in memory for followers, and how much of their data (JSON bytes).
 * Followers at the head are a few hundred events behind at most; a larger tail only made the heap V8 marks on
 * every major GC larger (20,000 events and 32 MB held about 50 MB of objects: each major GC then paused the
 * API for tens of milliseconds at 2,000 requests/s).
 */
const RECENT_MAX = 4096;
/** Data this long is remembered with its text (rememberDataText): an import chunk's, not a usage event's. */
const LARGE_DATA = 64 * 1024;
const RECENT_MAX_BYTES = 4 * 1024 * 1024;

/** The embedded EventStore: one table, global order = rowid, stream order = (stream_id, stream_version). */
export class SqliteEventStore implements EventStore {
  private readonly listeners = new Set<Listener>();
  private readonly insert: StatementSync;
  private readonly streamVersion: StatementSync;
  private readonly findById: StatementSync;
  private readonly head: StatementSync;
  private readonly byStream: StatementSync;
  private readonly atPosition: StatementSync;
  private readonly insertClaim: StatementSync;
  private readonly savepoint: StatementSync;
  private readonly release: StatementSync;
  private readonly rollbackTo: StatementSync;
  private readonly raiseSize: StatementSync;
  private readonly statements = new Map<string, StatementSync>();
  /** event_sizes as this process last knew it (`category NUL type`); reloaded after an append rolled back. */
  private largest = new Map<string, number>();
  private largestStale = true;
  private pending: PendingAppend[] = [];
  private recent: StoredEvent[] = [];
  private recentSizes: number[] = [];
  private recentBytes = 0;
  private recentFirst = 0;

  private readonly database: SqliteDatabase;
  private readonly registry: EventRegistry | undefined;

  constructor(database: SqliteDatabase, registry?: EventRegistry) {
    this.database = database;
    this.registry = registry;
    ensureEventsTable(database);
    database.db.exec(CLAIMS_TABLE);
    ensureSizesTable(database);
    const db = database.db;
    this.raiseSize = db.prepare(RAISE_SIZE);
    this.insert = db.prepare(
      `INSERT INTO events (id, stream_id, stream_version, category, type, schema_version, occurred_at, organization_id, project_id, correlation_id, causation_id, data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.streamVersion = db.prepare('SELECT MAX(stream_version) AS v FROM events WHERE stream_id = ?');
    this.findById = db.prepare('SELECT position, stream_id, stream_version FROM events WHERE id = ?');
    this.head = db.prepare('SELECT MAX(position) AS p FROM events');
    this.byStream = rowsAsArrays(db.prepare(`SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version LIMIT ?`));
    this.atPosition = rowsAsArrays(db.prepare(`SELECT ${COLUMNS} FROM events WHERE position = ?`));
    this.insertClaim = db.prepare('INSERT INTO event_claims (key, position) VALUES (?, ?) ON CONFLICT (key) DO NOTHING');
    this.savepoint = db.prepare('SAVEPOINT append');
    this.release = db.prepare('RELEASE append');
    this.rollbackTo = db.prepare('ROLLBACK TO append');
  }

  /** In-process notification of new events, used by the embedded subscriptions to follow live. */
  onAppended(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async claimed(keys: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const rows = this.claimLookup(chunk.length).all(...chunk) as { key: string; position: number }[];
      for (const row of rows) found.set(row.key, String(row.position));
    }
    return found;
  }

  private claimLookup(n: number): StatementSync {
    const key = `claims:${n}`;
    let stmt = this.statements.get(key);
    if (!stmt) {
      stmt = this.database.db.prepare(`SELECT key, position FROM event_claims WHERE key IN (${Array.from({ length: n }, () => '?').join(', ')})`);
      this.statements.set(key, stmt);
    }
    return stmt;
  }

  /**
   * Group commit: the appends requested in one turn of the event loop share one transaction (one COMMIT), each in
   * a savepoint of its own, so one that fails (a stale version, a claim taken, an invalid event) writes nothing
   * and leaves the others be. Each answer comes after the COMMIT: nothing is acknowledged before it is durable.
   */
  append(streamId: string, events: Iterable<NewEvent>, options: AppendOptions): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ streamId, events, options, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.commitPending());
    });
  }

  private commitPending(): void {
    const group = this.pending;
    this.pending = [];
    const outcomes: ({ ok: true; result: AppendOutcome } | { ok: false; error: unknown })[] = [];
    try {
      this.database.writeTransaction(() => {
        // Alone, an append needs no savepoint: its failure rolls the whole transaction back.
        if (group.length === 1) return void outcomes.push({ ok: true, result: this.appendInTransaction(group[0]!.streamId, group[0]!.events, group[0]!.options) });
        for (const { streamId, events, options } of group) {
          this.savepoint.run();
          try {
            outcomes.push({ ok: true, result: this.appendInTransaction(streamId, events, options) });
            this.release.run();
          } catch (error) {
            this.rollbackTo.run();
            this.release.run();
            this.largestStale = true;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // A lone append that failed, or the COMMIT itself: none of the group is written.
      this.largestStale = true;
      for (const { reject } of group) reject(error);
      return;
    }
    let last: string | null = null;
    const appended: AppendedEvent[] = [];
    group.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!;
      if (!outcome.ok) return reject(outcome.error);
      const result = outcome.result;
      if ('written' in result) {
        this.remember(result.written, result.sizes);
        for (const e of result.written) appended.push({ streamId: e.streamId, type: e.type });
        last = result.position;
      }
      resolve({ nextVersion: result.nextVersion, position: result.position });
    });
    if (last !== null) for (const listener of this.listeners) listener(last, appended);
  }

  /** One append, inside the group's transaction (in its own savepoint). */
  private appendInTransaction(streamId: string, events: Iterable<NewEvent>, { expectedVersion, claims = [] }: AppendOptions): AppendOutcome {
    const iterator = events[Symbol.iterator]();
    const head = iterator.next();
    if (head.done) throw new Error('append needs at least one event');
    const category = categoryOf(streamId);
    if (this.largestStale) {
      const rows = this.database.db.prepare('SELECT category, type, max_size FROM event_sizes').all() as { category: string; type: string; max_size: number }[];
      this.largest = new Map(rows.map((r) => [`${r.category}\u0000${r.type}`, r.max_size]));
      this.largestStale = false;
    }
    // Each event is validated and written in turn (a bad one rolls the append back): a sequence produced on
    // demand (an import's chunks read from a staging file) is never held whole in memory.
    {
      const replay = this.idempotentReplay(streamId, head.value, iterator);
      if (replay) return replay;
      const current = (this.streamVersion.get(streamId) as { v: number | null }).v;
      const actual = current ?? -1;
      if (expectedVersion === 'no_stream' ? current !== null : expectedVersion !== 'any' && expectedVersion !== actual) {
        throw new ConcurrencyError(streamId, expectedVersion, current === null ? 'no_stream' : actual);
      }
      let version = actual;
      let position = 0;
      // The tail kept for followers: at most what the cache would keep (older events are read back from the table).
      const written: StoredEvent[] = [];
      const sizes: number[] = [];
      let bytes = 0;
      for (let next: IteratorResult<NewEvent> = head; !next.done; next = iterator.next()) {
        const e = next.value;
        // Followers get the event from the tail kept here as readers get it from the table: upcast.
        const readable = this.registry?.forAppend(e);
        const data = JSON.stringify(e.data);
        const kind = `${category}\u0000${e.type}`;
        if (data.length > (this.largest.get(kind) ?? -1)) {
          this.raiseSize.run(category, e.type, data.length);
          this.largest.set(kind, data.length);
        }
        const schemaVersion = e.schemaVersion ?? readable?.schemaVersion ?? 1;
        version += 1;
        const correlationId = e.correlationId ?? e.id;
        const info = this.insert.run(e.id, streamId, version, category, e.type, schemaVersion, e.occurredAt, e.organizationId, e.projectId ?? null, correlationId, e.causationId ?? correlationId, data);
        position = Number(info.lastInsertRowid);
        const stored: StoredEvent = { id: e.id, type: e.type, schemaVersion: readable?.schemaVersion ?? schemaVersion, streamId, streamVersion: version, globalPosition: String(position), occurredAt: e.occurredAt, organizationId: e.organizationId, correlationId, causationId: e.causationId ?? correlationId, data: readable?.data ?? e.data };
        if (e.projectId) stored.projectId = e.projectId;
        if (stored.data === e.data && data.length >= LARGE_DATA) rememberDataText(stored, data);
        written.push(stored);
        sizes.push(data.length);
        bytes += data.length;
        while (written.length > 1 && bytes > RECENT_MAX_BYTES / 2) {
          bytes -= sizes.shift()!;
          written.shift();
        }
      }
      if (claims.length > 0) {
        const taken: string[] = [];
        for (const key of claims) if ((this.insertClaim.run(key, position).changes as number) === 0) taken.push(key);
        if (taken.length > 0) throw new ClaimConflictError(taken); // rolls the whole append back
      }
      return { nextVersion: version, position: String(position), written, sizes };
    }
  }

  /** Same event ids already appended to this stream: answer as the first append did. */
  private idempotentReplay(streamId: string, firstEvent: NewEvent, rest: Iterator<NewEvent>): AppendResult | null {
    const first = this.findById.get(firstEvent.id) as { position: number; stream_id: string; stream_version: number } | undefined;
    if (!first) return null;
    let lastEvent = firstEvent;
    let count = 1;
    for (let next = rest.next(); !next.done; next = rest.next()) {
      lastEvent = next.value;
      count += 1;
    }
    const last = this.findById.get(lastEvent.id) as typeof first | undefined;
    if (first.stream_id !== streamId || !last || last.stream_id !== streamId || last.stream_version - first.stream_version !== count - 1) {
      throw new ConcurrencyError(streamId, `new events`, `event ${firstEvent.id} already stored elsewhere`);
    }
    return { nextVersion: last.stream_version, position: String(last.position) };
  }

  async *readStream(streamId: string, options: { fromVersion?: number } = {}): AsyncIterable<StoredEvent> {
    let from = options.fromVersion ?? 0;
    for (;;) {
      const rows = this.byStream.all(streamId, from, 500) as unknown as EventRow[];
      for (const row of rows) yield this.toEvent(row);
      if (rows.length < 500) return;
      from = rows[rows.length - 1]![3] + 1;
    }
  }

  /**
   * Keeps the events this process just committed, in position order, while positions stay contiguous. Followers
   * that are caught up read the tail of the log from here instead of querying once per append each.
   */
  private remember(events: StoredEvent[], sizes: number[]): void {
    const first = Number(events[0]!.globalPosition);
    if (this.recentFirst + this.recent.length !== first) {
      // Another writer (process) appended in between, or this is the first append: start afresh.
      this.recent = [];
      this.recentSizes = [];
      this.recentBytes = 0;
      this.recentFirst = first;
    }
    for (let i = 0; i < events.length; i++) {
      this.recent.push(events[i]!);
      this.recentSizes.push(sizes[i]!);
      this.recentBytes += sizes[i]!;
    }
    // Bounded by count and by bytes: a few large events (an import of 100,000 curb zones) are not kept alive
    // here; followers read them back from the table.
    if (this.recent.length > RECENT_MAX || this.recentBytes > RECENT_MAX_BYTES) {
      let drop = 0;
      while (drop < this.recent.length && (this.recent.length - drop > RECENT_MAX / 2 || this.recentBytes > RECENT_MAX_BYTES / 2)) this.recentBytes -= this.recentSizes[drop++]!;
      this.recent = this.recent.slice(drop);
      this.recentSizes = this.recentSizes.slice(drop);
      this.recentFirst += drop;
    }
  }

  /** Every claim with the position of the append that made it, in position order (copying the log elsewhere). */
  *claimsInPositionOrder(): Iterable<{ key: string; position: string }> {
    for (const row of this.database.db.prepare('SELECT key, position FROM event_claims ORDER BY position, key').iterate() as Iterable<{ key: string; position: number }>) {
      yield { key: row.key, position: String(row.position) };
    }
  }

  /** Events and data bytes kept for followers (tests: the cache stays bounded). */
  cacheSize(): { events: number; bytes: number } {
    return { events: this.recent.length, bytes: this.recentBytes };
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterable<StoredEvent> {
    for await (const page of this.readAllPages(options)) yield* page.events;
  }

  async *readAllPages(options: ReadAllOptions & { maxBytes?: number } = {}): AsyncIterable<EventPage> {
    const batchSize = Math.max(1, options.batchSize ?? 1000);
    const envelopeOnly = options.envelopeOnly ?? false;
    // Envelopes weigh a row's header whatever the data's size: no byte budget.
    const maxBytes = envelopeOnly ? Number.POSITIVE_INFINITY : (options.maxBytes ?? Number.POSITIVE_INFINITY);
    const { categories = [], types = [] } = options.filter ?? {};
    const to = options.to == null ? Number.MAX_SAFE_INTEGER : Number(options.to);
    let from = options.from == null ? 0 : Number(options.from);
    let page: StoredEvent[] = [];
    let bytes = 0;
    const cachedEnd = this.recentFirst + this.recent.length - 1;
    if (this.recent.length > 0 && from + 1 >= this.recentFirst && from < cachedEnd) {
      // The tail holds events as readers get them (upcast when appended at an older version).
      const categorySet = categories.length ? new Set(categories) : null;
      const typeSet = types.length ? new Set(types) : null;
      // Appends made while this generator is suspended may grow or replace the cache: walk a fixed slice of
      // it and continue from the table after the last position walked, so nothing is yielded twice.
      const skip = from + 1 - this.recentFirst;
      const recent = this.recent.slice(skip);
      const sizes = this.recentSizes.slice(skip);
      for (let k = 0; k < recent.length; k++) {
        const event = recent[k]!;
        const position = Number(event.globalPosition);
        if (position > to) break;
        from = position;
        if (typeSet && !typeSet.has(event.type)) continue;
        if (categorySet && !categorySet.has(categoryOf(event.streamId))) continue;
        page.push(envelopeOnly ? envelopeOf(event) : event);
        bytes += sizes[k]!;
        if (page.length >= batchSize || bytes >= maxBytes) {
          yield { events: page, more: true };
          page = [];
          bytes = 0;
        }
      }
      if (to <= from) {
        if (page.length > 0) yield { events: page, more: false };
        return;
      }
    }
    const stmt = this.statement(categories.length, types.length, envelopeOnly ? ENVELOPE_COLUMNS : COLUMNS);
    // Events this read may meet are at most `largest` characters each: while a whole page of them fits the budget,
    // pages are read at once; otherwise their sizes first.
    const largest = Number.isFinite(maxBytes) ? ((this.statement(categories.length, types.length, 'max(max_size) AS m', 'event_sizes').get(...categories, ...types) as { m: number | null }).m ?? 0) : 0;
    // octet_length is answered from a row's header: the data itself is not loaded.
    const sizes = this.statement(categories.length, types.length, 'position, octet_length(data)');
    for (;;) {
      const limit = batchSize - page.length;
      // The sizes come first where a page could exceed the budget, read only as far as the budget: the page then
      // stops before the row that would pass it is even loaded (a subscription that takes 500 events at a time
      // must not load 500 import chunks of a megabyte each).
      let upTo = to;
      let cut = false;
      if (largest * limit > maxBytes - bytes) {
        let total = bytes;
        let listed = 0;
        for (const [position, size] of sizes.iterate(from, to, ...categories, ...types, limit) as IterableIterator<[number, number]>) {
          total += size;
          listed += 1;
          if (total >= maxBytes) {
            // Cut here unless this row ends the page anyway.
            if (listed < limit) [upTo, cut] = [position, true];
            break;
          }
        }
      }
      const rows = stmt.all(from, upTo, ...categories, ...types, limit) as unknown as EventRow[];
      for (const row of rows) page.push(this.toEvent(row));
      if (rows.length > 0) from = rows[rows.length - 1]![0];
      if (!cut && rows.length < limit) {
        if (page.length > 0) yield { events: page, more: false };
        return;
      }
      yield { events: page, more: true };
      page = [];
      bytes = 0;
    }
  }

  async headPosition(): Promise<Checkpoint> {
    const p = (this.head.get() as { p: number | null }).p;
    return p === null ? null : String(p);
  }

  compare(a: Checkpoint, b: Checkpoint): number {
    return (a === null ? 0 : Number(a)) - (b === null ? 0 : Number(b));
  }

  async readAt(position: string): Promise<StoredEvent | null> {
    if (!/^\d+$/.test(position)) return null;
    const row = this.atPosition.get(Number(position)) as unknown as EventRow | undefined;
    return row ? this.toEvent(row) : null;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** A read of the log (or of event_sizes) under a filter of so many categories and types. */
  private statement(categories: number, types: number, columns: string, table: 'events' | 'event_sizes' = 'events'): StatementSync {
    const key = `${categories}:${types}:${columns}:${table}`;
    let stmt = this.statements.get(key);
    if (!stmt) {
      const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');
      const filter = (categories ? ` AND category IN (${marks(categories)})` : '') + (types ? ` AND type IN (${marks(types)})` : '');
      stmt = table === 'events' ? rowsAsArrays(this.database.db.prepare(`SELECT ${columns} FROM events WHERE position > ? AND position <= ?${filter} ORDER BY position LIMIT ?`)) : this.database.db.prepare(`SELECT ${columns} FROM event_sizes WHERE true${filter}`);
      this.statements.set(key, stmt);
    }
    return stmt;
  }

  private toEvent(row: EventRow): StoredEvent {
    const event: StoredEvent = {
      id: row[1],
      type: row[4],
      schemaVersion: row[5],
      streamId: row[2],
      streamVersion: row[3],
      globalPosition: String(row[0]),
      occurredAt: row[6],
      organizationId: row[7],
      correlationId: row[9],
      causationId: row[10],
      data: row[11] === null ? undefined : JSON.parse(row[11]),
    };
    if (row[8] !== null) event.projectId = row[8];
    const readable = this.registry ? this.registry.upcast(event) : event;
    // Not upcast: its data is what the text says (a projection may write parts of it as they are).
    if (readable === event && row[11] !== null && row[11].length >= LARGE_DATA) rememberDataText(event, row[11]);
    return readable;
  }
}

function rowsAsArrays(stmt: StatementSync): StatementSync {
  stmt.setReturnArrays(true);
  return stmt;
}
