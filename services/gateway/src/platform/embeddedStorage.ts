import { join } from 'node:path';
import type { Logger } from 'pino';
import { EventRegistry } from '@curbmap/contracts';
import { InProcessSubscriptions, SqliteDatabase, SqliteEventStore, SqliteReadStore } from '@curbmap/eventsourcing';
import type { ServiceModule } from '@curbmap/service-kit';

/** The embedded adapters: one SQLite file holds the event log, the checkpoints and the read models. */
export function openEmbeddedStorage(dataDir: string, modules: ServiceModule[], logger: Logger) {
  const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
  database.startBackgroundCheckpoints();
  const registry = new EventRegistry();
  for (const m of modules) registry.register(...m.contracts);
  const store = new SqliteEventStore(database, registry);
  const readStore = new SqliteReadStore(database);
  const subscriptions = new InProcessSubscriptions({
    store,
    checkpoints: readStore,
    onAppended: (listener) => store.onAppended(listener),
    lingerMs: 5,
    log: logger.child({ component: 'subscriptions' }),
  });
  return { database, registry, store, readStore, subscriptions };
}
