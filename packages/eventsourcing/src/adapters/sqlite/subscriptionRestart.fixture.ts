// A projection that a test process runs, gets killed mid-catch-up, and runs again.
import { testRegistry } from '@curbmap/testing';
import { InProcessSubscriptions } from '../inprocess/inProcessSubscriptions.ts';
import { startProjection, type Projection } from '../../projection.ts';
import type { Document } from '../../ports/readStore.ts';
import { SqliteDatabase } from './sqliteDatabase.ts';
import { SqliteEventStore } from './sqliteEventStore.ts';
import { SqliteReadStore } from './sqliteReadStore.ts';

export interface Tally extends Document {
  applied: number;
  sum: number;
}

/** Records every event it applies and counts applications: a duplicate shows as applied > events. */
export function tallyProjection(slowMs: number): Projection {
  return {
    name: 'restart.tally',
    filter: { categories: ['counter'] },
    collections: ['tally', 'seen'],
    async apply(event, tx) {
      const tally = (await tx.get<Tally>('tally', 'tally')) ?? { id: 'tally', organizationId: event.organizationId, applied: 0, sum: 0 };
      tally.applied += 1;
      tally.sum += (event.data as { count: number }).count;
      await tx.put('tally', tally);
      await tx.put('seen', { id: event.id, organizationId: event.organizationId });
      if (slowMs && (event.data as { count: number }).count % 100 === 99) await new Promise((r) => setTimeout(r, slowMs));
    },
  };
}

export function openStores(path: string) {
  const database = new SqliteDatabase(path);
  const store = new SqliteEventStore(database, testRegistry());
  const readStore = new SqliteReadStore(database);
  const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (l) => store.onAppended(l), pollIntervalMs: 50 });
  return { database, store, readStore, subscriptions };
}

// Child mode: run the slow projection and report each checkpoint on stdout until killed.
if (process.argv[2] === 'run-child') {
  const { readStore, subscriptions } = openStores(process.argv[3]!);
  const sub = await startProjection(subscriptions, readStore, tallyProjection(15), { batchSize: 100 });
  setInterval(() => process.stdout.write(`checkpoint ${sub.position() ?? 0}\n`), 5);
}
