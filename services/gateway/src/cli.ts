import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { copyLog, PostgresEventStore, resetProjection, SqliteDatabase, SqliteEventStore, startProjection } from '@curbmap/eventsourcing';
import { loadConfig } from '@curbmap/service-kit';
import { openStorage } from '@curbmap/service-kit';
import { createModules } from './platform/modules.ts';

const usage = `usage: curbmap replay [projection…]   rebuild read models from position 0 (all when none is named)
       curbmap projections            list the projections and their checkpoints
       curbmap copy-log <target-url>  copy the log (DATABASE_URL's, else the embedded one in CURBMAP_DATA_DIR) into
                                      PostgreSQL (postgres://…) or KurrentDB (kurrentdb://…, esdb://…), order, ids and claims kept
Stop the platform first: these need the database to themselves.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...names] = argv;
  const config = loadConfig();
  const log = pino({ level: config.logLevel });
  if (command === 'copy-log') return copyLogTo(config.dataDir, config.databaseUrl, names[0], log);
  const modules = createModules({ plansFile: config.plansFile, dataDir: config.dataDir }).all;
  const storage = await openStorage(config.dataDir, modules, log, { databaseUrl: config.databaseUrl, mongoUrl: config.mongoUrl, kurrentdbUrl: config.kurrentdbUrl });
  const { store, readStore, subscriptions } = storage;
  const projections = modules.flatMap((m) => m.projections);
  try {
    if (command === 'projections') {
      const head = await store.headPosition();
      for (const p of projections) process.stdout.write(`${p.name}\tcheckpoint ${(await readStore.loadCheckpoint(p.name)) ?? '-'}\thead ${head ?? '-'}\n`);
      return 0;
    }
    if (command !== 'replay') {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    const unknown = names.filter((n) => !projections.some((p) => p.name === n));
    if (unknown.length) {
      process.stderr.write(`unknown projection(s): ${unknown.join(', ')}\nknown: ${projections.map((p) => p.name).join(', ')}\n`);
      return 2;
    }
    const head = await store.headPosition();
    for (const projection of projections.filter((p) => names.length === 0 || names.includes(p.name))) {
      const started = Date.now();
      await resetProjection(readStore, projection);
      const sub = await startProjection(subscriptions, readStore, projection, { batchSize: 1000 });
      const progress = setInterval(() => log.info({ projection: projection.name, position: sub.position(), head }, 'replaying'), 1000);
      await sub.caughtUp;
      clearInterval(progress);
      await sub.stop();
      log.info({ projection: projection.name, head, ms: Date.now() - started }, 'projection rebuilt');
    }
    return 0;
  } finally {
    await subscriptions.stopAll();
    await storage.close();
  }
}

/**
 * Moves an installation's log (the embedded SQLite file, or DATABASE_URL's PostgreSQL) to PostgreSQL or KurrentDB:
 * its events and claims; then start with the new store's URL (read models are projected from position 0).
 */
async function copyLogTo(dataDir: string, databaseUrl: string | null, url: string | undefined, log: Logger): Promise<number> {
  const toPostgres = !!url && /^postgres(ql)?:\/\//.test(url);
  const toKurrent = !!url && /^(kurrentdb|esdb)(\+discover)?:\/\//.test(url);
  if (!url || (!toPostgres && !toKurrent) || url === databaseUrl) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const path = join(dataDir, 'curbmap.db');
  if (!databaseUrl && !existsSync(path)) {
    process.stderr.write(`curbmap: no embedded log at ${path} (set CURBMAP_DATA_DIR, or DATABASE_URL for a PostgreSQL log)\n`);
    return 2;
  }
  // No registry on either side: every event exactly as stored, nothing upcast or re-validated.
  const database = databaseUrl ? null : new SqliteDatabase(path);
  const source = database ? new SqliteEventStore(database) : await PostgresEventStore.open(databaseUrl!);
  const target = toPostgres ? await PostgresEventStore.open(url) : (await import('@curbmap/eventsourcing/kurrentdb')).KurrentDbEventStore.open(url);
  try {
    const head = await source.headPosition();
    let copied = 0;
    const progress = setInterval(() => log.info({ copied, head }, 'copying the log'), 1000);
    const result = await copyLog(source, target, { onProgress: (n) => (copied = n) }).finally(() => clearInterval(progress));
    log.info(result, `log copied; start the platform with ${toPostgres ? 'DATABASE_URL' : 'KURRENTDB_URL'} to project the read models from it`);
    return 0;
  } finally {
    await target.close();
    if (database) database.close();
    else await source.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`curbmap: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
