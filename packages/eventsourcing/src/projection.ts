import type { EventFilter, StoredEvent } from './ports/eventStore.ts';
import type { ReadStore, ReadStoreTx } from './ports/readStore.ts';
import type { RetryPolicy, Subscription, Subscriptions } from './ports/subscriptions.ts';

/** A read model: events in, documents out; its checkpoint commits with its documents. */
export interface Projection {
  /** Also the checkpoint name; bump its version suffix to rebuild after a change of shape. */
  name: string;
  filter: EventFilter;
  collections: string[];
  /** Secondary query fields per collection. */
  indexes?: Record<string, string[]>;
  apply(event: StoredEvent, tx: ReadStoreTx): Promise<void>;
}

export async function startProjection(subscriptions: Subscriptions, readStore: ReadStore, projection: Projection, options: { batchSize?: number; retry?: RetryPolicy } = {}): Promise<Subscription> {
  // No checkpoint under this name: a new projection, or a new version of one. Documents an older version
  // left in its collections would mix two shapes, so it starts from empty collections.
  if ((await readStore.loadCheckpoint(projection.name)) === null) await readStore.reset(projection.name, projection.collections);
  for (const [collection, fields] of Object.entries(projection.indexes ?? {})) {
    for (const field of fields) await readStore.ensureIndex(collection, field);
  }
  return subscriptions.subscribe(
    projection.name,
    projection.filter,
    (batch: StoredEvent[], { checkpoint }) =>
      readStore.transaction(async (tx) => {
        for (const event of batch) await projection.apply(event, tx);
        await tx.saveCheckpoint(projection.name, checkpoint);
      }),
    { checkpointing: 'by-handler', batchSize: options.batchSize ?? 500, ...(options.retry ? { retry: options.retry } : {}) },
  );
}

/** Forgets a projection's documents and checkpoint; started again, it rebuilds from position 0. */
export function resetProjection(readStore: ReadStore, projection: Projection): Promise<void> {
  return readStore.reset(projection.name, projection.collections);
}
