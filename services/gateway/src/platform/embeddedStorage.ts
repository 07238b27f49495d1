import { join } from 'node:path';
import type { Logger } from 'pino';
import { EventRegistry } from '@curbmap/contracts';
import { InProcessSubscriptions, PostgresEventStore, PostgresReadStore, SqliteDatabase, SqliteEventStore, SqliteReadStore, type EventStore, type ReadStore } from '@curbmap/eventsourcing';
import type { ServiceModule } from '@curbmap/service-kit';

export interface Storage {
  registry: EventRegistry;
  store: EventStore;
  readStore: ReadStore;
  subscriptions: InProcessSubscriptions;
  /** Is the storage usable (readiness). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The storage adapters, chosen here only: one SQLite file (the event log, checkpoints and read models) by default;
 * PostgreSQL when DATABASE_URL is set (the same schema for every process sharing it).
 */
export async function openStorage(dataDir: string, modules: ServiceModule[], logger: Logger, databaseUrl: string | null = null): Promise<Storage> {
  const registry = new EventRegistry();
  for (const m of modules) registry.register(...m.contracts);
  const log = logger.child({ component: 'subscriptions' });
  if (databaseUrl) {
    const store = await PostgresEventStore.open(databaseUrl, registry);
    const readStore = await PostgresReadStore.open(databaseUrl);
    // Appends made here wake subscriptions here at once; other processes' are found by polling.
    const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (listener) => store.onAppended(listener), appendedPositionsReadable: false, lingerMs: 5, pollIntervalMs: 250, log });
    return {
      registry,
      store,
      readStore,
      subscriptions,
      healthy: async () => (await store.headPosition().then(() => true, () => false)),
      async close() {
        await store.close();
        await readStore.close();
      },
    };
  }
  const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
  database.startBackgroundCheckpoints();
  const store = new SqliteEventStore(database, registry);
  const readStore = new SqliteReadStore(database);
  const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (listener) => store.onAppended(listener), lingerMs: 5, log });
  return {
    registry,
    store,
    readStore,
    subscriptions,
    healthy: async () => database.db.isOpen,
    async close() {
      await store.close();
      await database.stopBackgroundCheckpoints();
      database.close();
    },
  };
}
