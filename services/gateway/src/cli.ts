import { pino } from 'pino';
import { resetProjection, startProjection } from '@curbmap/eventsourcing';
import { loadConfig } from '@curbmap/service-kit';
import { openStorage } from '@curbmap/service-kit';
import { createModules } from './platform/modules.ts';

const usage = `usage: curbmap replay [projection…]   rebuild read models from position 0 (all when none is named)
       curbmap projections            list the projections and their checkpoints
Stop the platform first: the replay needs the database to itself.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...names] = argv;
  const config = loadConfig();
  const log = pino({ level: config.logLevel });
  const modules = createModules({ plansFile: config.plansFile, dataDir: config.dataDir }).all;
  const storage = await openStorage(config.dataDir, modules, log, { databaseUrl: config.databaseUrl });
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`curbmap: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
