import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventStoreContract, readStoreContract, subscriptionsContract, testRegistry } from '@curbmap/testing';
import { InProcessSubscriptions } from '../inprocess/inProcessSubscriptions.ts';
import { SqliteDatabase } from './sqliteDatabase.ts';
import { SqliteEventStore } from './sqliteEventStore.ts';
import { SqliteReadStore } from './sqliteReadStore.ts';

function openDatabase() {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-sqlite-'));
  const database = new SqliteDatabase(join(dir, 'curbmap.db'));
  return { database, close: async () => (database.close(), rmSync(dir, { recursive: true, force: true })) };
}

eventStoreContract('sqlite', async () => {
  const { database, close } = openDatabase();
  return { store: new SqliteEventStore(database, testRegistry()), withRegistry: async (registry) => new SqliteEventStore(database, registry), close };
});

readStoreContract('sqlite', async () => {
  const { database, close } = openDatabase();
  return { readStore: new SqliteReadStore(database), close };
});

subscriptionsContract('in-process over sqlite', async () => {
  const { database, close } = openDatabase();
  const store = new SqliteEventStore(database, testRegistry());
  const readStore = new SqliteReadStore(database);
  const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (l) => store.onAppended(l), pollIntervalMs: 50 });
  return { store, readStore, subscriptions, close };
});
