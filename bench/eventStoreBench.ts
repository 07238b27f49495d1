import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { EventRegistry, type NewEvent } from '@curbmap/contracts';
import { InProcessSubscriptions, SqliteDatabase, SqliteEventStore, SqliteReadStore, startProjection, type Document, type Projection } from '@curbmap/eventsourcing';
import type { Figure } from './report.ts';

const ORGS = Array.from({ length: 20 }, () => randomUUID());

function registry(): EventRegistry {
  return new EventRegistry().register({
    type: 'bench.usage.recorded',
    schemaVersion: 1,
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['meter', 'quantity', 'day'],
      properties: { meter: { type: 'string', minLength: 1 }, quantity: { type: 'integer', minimum: 0 }, day: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } },
    },
  });
}

function event(i: number): NewEvent {
  return {
    id: randomUUID(),
    type: 'bench.usage.recorded',
    occurredAt: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    organizationId: ORGS[i % ORGS.length]!,
    data: { meter: 'api_calls', quantity: (i % 17) + 1, day: `2026-01-${String((i % 28) + 1).padStart(2, '0')}` },
  };
}

function tempDb(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-bench-'));
  return { path: join(dir, 'bench.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The ceiling: a bare node:sqlite loop writing the same rows into the same table with the same indexes. */
function bareLoop(total: number): number {
  const { path, cleanup } = tempDb();
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL, stream_version INTEGER NOT NULL,
      category TEXT NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL, occurred_at TEXT NOT NULL, organization_id TEXT NOT NULL,
      project_id TEXT, correlation_id TEXT NOT NULL, causation_id TEXT NOT NULL, data TEXT NOT NULL, UNIQUE (stream_id, stream_version));`);
  const insert = db.prepare('INSERT INTO events (id, stream_id, stream_version, category, type, schema_version, occurred_at, organization_id, project_id, correlation_id, causation_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const events = Array.from({ length: total }, (_, i) => event(i));
  const versions = new Map<string, number>();
  const started = performance.now();
  for (let b = 0; b < total; b += 100) {
    const stream = `usage-${(b / 100) % 1000}`;
    let v = versions.get(stream) ?? -1;
    db.exec('BEGIN');
    for (const e of events.slice(b, b + 100)) {
      v += 1;
      insert.run(e.id, stream, v, 'usage', e.type, 1, e.occurredAt, e.organizationId, null, e.id, e.id, JSON.stringify(e.data));
    }
    db.exec('COMMIT');
    versions.set(stream, v);
  }
  const rate = total / ((performance.now() - started) / 1000);
  db.close();
  cleanup();
  return rate;
}

async function appendAll(store: SqliteEventStore, total: number): Promise<number> {
  const versions = new Map<string, number>();
  const events = Array.from({ length: total }, (_, i) => event(i));
  const started = performance.now();
  for (let b = 0; b < total; b += 100) {
    const stream = `usage-${(b / 100) % 1000}`;
    const v = versions.get(stream);
    const { nextVersion } = await store.append(stream, events.slice(b, b + 100), { expectedVersion: v === undefined ? 'no_stream' : v });
    versions.set(stream, nextVersion);
  }
  return total / ((performance.now() - started) / 1000);
}

/** Requests arriving together: single-event appends with a claim each, 50 in flight (group commit shares COMMITs). */
async function concurrentSingles(store: SqliteEventStore, total: number): Promise<number> {
  const started = performance.now();
  for (let r = 0; r < total / 50; r++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(`usage-${r}-${i}`, [event(r * 50 + i)], { expectedVersion: 'no_stream', claims: [`bench:${r}:${i}`] })));
  }
  return total / ((performance.now() - started) / 1000);
}

/** The same without grouping: one transaction per event and claim, as each request would commit alone. */
function bareSingles(total: number): number {
  const { path, cleanup } = tempDb();
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL, stream_version INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (stream_id, stream_version));
    CREATE TABLE claims (key TEXT PRIMARY KEY, position INTEGER) WITHOUT ROWID;`);
  const insert = db.prepare('INSERT INTO events (id, stream_id, stream_version, data) VALUES (?, ?, 0, ?)');
  const claim = db.prepare('INSERT INTO claims (key, position) VALUES (?, ?)');
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const e = event(i);
    db.exec('BEGIN IMMEDIATE');
    const position = insert.run(e.id, `usage-${i}`, JSON.stringify(e.data)).lastInsertRowid;
    claim.run(`bench:${i}`, position);
    db.exec('COMMIT');
  }
  const rate = total / ((performance.now() - started) / 1000);
  db.close();
  cleanup();
  return rate;
}

interface DailyUsage extends Document {
  meter: string;
  day: string;
  quantity: number;
  events: number;
}

/** A realistic read model: usage per organization, meter and day (one of its own per run). */
const dailyUsage = (run: number): Projection => {
  const collection = `bench_daily_usage_${run}`;
  return {
    name: `bench.daily_usage.${run}`,
    filter: { categories: ['usage'] },
    collections: [collection],
    async apply(e, tx) {
      const d = e.data as { meter: string; quantity: number; day: string };
      const id = `${e.organizationId}:${d.meter}:${d.day}`;
      const doc = (await tx.get<DailyUsage>(collection, id)) ?? { id, organizationId: e.organizationId, meter: d.meter, day: d.day, quantity: 0, events: 0 };
      doc.quantity += d.quantity;
      doc.events += 1;
      await tx.put(collection, doc);
    },
  };
};

/**
 * The replay's baseline: a bare node:sqlite loop over the same rows of the same file, in pages of the same size,
 * parsing each event's data and writing the same documents (each read once per batch, written once per batch)
 * with a checkpoint, one transaction per batch. No envelope, no upcasting, no subscription, no port.
 */
function bareReplay(path: string, batchSize: number, run: number): { perSecond: number; applied: number } {
  const db = new DatabaseSync(path);
  const table = `bare_daily_usage_${run}`;
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, doc TEXT NOT NULL); CREATE TABLE IF NOT EXISTS bare_checkpoints (name TEXT PRIMARY KEY, position TEXT)`);
  const page = db.prepare("SELECT position, organization_id, data FROM events WHERE position > ? AND category = 'usage' ORDER BY position LIMIT ?");
  const get = db.prepare(`SELECT doc FROM ${table} WHERE id = ?`);
  const put = db.prepare(`INSERT INTO ${table} (id, organization_id, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET organization_id = excluded.organization_id, doc = excluded.doc`);
  const checkpoint = db.prepare('INSERT INTO bare_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position');
  let from = 0;
  let events = 0;
  const started = performance.now();
  for (;;) {
    const rows = page.all(from, batchSize) as { position: number; organization_id: string; data: string }[];
    if (rows.length === 0) break;
    const touched = new Map<string, DailyUsage>();
    for (const row of rows) {
      const d = JSON.parse(row.data) as { meter: string; quantity: number; day: string };
      const id = `${row.organization_id}:${d.meter}:${d.day}`;
      let doc = touched.get(id);
      if (!doc) {
        const stored = get.get(id) as { doc: string } | undefined;
        doc = stored ? (JSON.parse(stored.doc) as DailyUsage) : { id, organizationId: row.organization_id, meter: d.meter, day: d.day, quantity: 0, events: 0 };
        touched.set(id, doc);
      }
      doc.quantity += d.quantity;
      doc.events += 1;
    }
    from = rows[rows.length - 1]!.position;
    db.exec('BEGIN');
    for (const doc of touched.values()) put.run(doc.id, doc.organizationId, JSON.stringify(doc));
    checkpoint.run(`bare.daily_usage.${run}`, String(from));
    db.exec('COMMIT');
    events += rows.length;
  }
  const perSecond = events / ((performance.now() - started) / 1000);
  const applied = (db.prepare(`SELECT doc FROM ${table} WHERE organization_id = ?`).all(ORGS[0]!) as { doc: string }[]).reduce((n, r) => n + (JSON.parse(r.doc) as DailyUsage).events, 0);
  db.close();
  return { perSecond, applied };
}

export async function eventStoreBench(scale: number): Promise<Figure[]> {
  const appendTotal = Math.round(200_000 * scale);
  // Interleave ceiling and adapter runs so both see the same machine state; keep the best of each.
  const bare: number[] = [];
  const ours: number[] = [];
  for (let round = 0; round < 3; round++) {
    bare.push(bareLoop(appendTotal));
    const { path, cleanup } = tempDb();
    const database = new SqliteDatabase(path);
    ours.push(await appendAll(new SqliteEventStore(database, registry()), appendTotal));
    database.close();
    cleanup();
  }
  const ceiling = Math.max(...bare);
  const append = Math.max(...ours);
  const singlesTotal = Math.round(20_000 * scale);
  const singlesBare = bareSingles(singlesTotal);
  const singlesDb = tempDb();
  const singlesDatabase = new SqliteDatabase(singlesDb.path);
  const singles = await concurrentSingles(new SqliteEventStore(singlesDatabase, registry()), singlesTotal);
  singlesDatabase.close();
  singlesDb.cleanup();

  const replayTotal = Math.round(1_000_000 * scale);
  const { path, cleanup } = tempDb();
  const database = new SqliteDatabase(path);
  const store = new SqliteEventStore(database, registry());
  await appendAll(store, replayTotal);
  // The same file, the same rows: the bare loop first (it warms the page cache for both alike), then the projection,
  // twice each, interleaved (this machine's speed varies from minute to minute); the best of each is reported.
  const readStore = new SqliteReadStore(database);
  const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore });
  const loops: number[] = [];
  const replays: number[] = [];
  for (let run = 0; run < 2; run++) {
    const loop = bareReplay(path, 2000, run);
    if (loop.applied !== replayTotal / ORGS.length) throw new Error(`the bare replay applied ${loop.applied} events for one organization, expected ${replayTotal / ORGS.length}`);
    loops.push(loop.perSecond);
    const projection = dailyUsage(run);
    const started = performance.now();
    const sub = await startProjection(subscriptions, readStore, projection, { batchSize: 2000 });
    await sub.caughtUp;
    replays.push(replayTotal / ((performance.now() - started) / 1000));
    await sub.stop();
    const docs = await readStore.find<DailyUsage>(projection.collections[0]!, { organizationId: ORGS[0]! });
    const applied = docs.reduce((n, d) => n + d.events, 0);
    if (applied !== replayTotal / ORGS.length) throw new Error(`replay applied ${applied} events for one organization, expected ${replayTotal / ORGS.length}`);
  }
  await subscriptions.stopAll();
  database.close();
  cleanup();
  const bareBest = Math.max(...loops);
  const replay = Math.max(...replays);

  return [
    { name: 'bare node:sqlite loop (ceiling), batches of 100', value: ceiling, unit: 'rows/s', detail: `${appendTotal} rows, best of 3` },
    { name: 'event store append, batches of 100', value: append, unit: 'events/s', baseline: ceiling, target: { ratio: 0.8 }, detail: `${appendTotal} events, schema-validated, expected-version checked, best of 3` },
    { name: 'event store: concurrent single-event appends with a claim (50 in flight)', value: singles, unit: 'events/s', baseline: singlesBare, detail: `${singlesTotal} appends, group commit; baseline: bare node:sqlite, one transaction per event and claim` },
    { name: 'bare replay loop (baseline): the same rows read, parsed and the same documents written', value: bareBest, unit: 'events/s', detail: `${replayTotal} events, pages of 2000, one transaction per page with its checkpoint; best of 2` },
    { name: 'projection replay from position 0', value: replay, unit: 'events/s', baseline: bareBest, target: { min: 300_000, ratio: 0.5 }, detail: `${replayTotal} events into a daily-usage read model (batches of 2000): envelope, subscription, projection port; best of 2, interleaved with the loop` },
  ];
}
