import type { EventFilter, StoredEvent } from './ports/eventStore.ts';
import type { Document, ReadStore, ReadStoreTx } from './ports/readStore.ts';
import type { RetryPolicy, Subscription, Subscriptions } from './ports/subscriptions.ts';

/** A read model: events in, documents out; its checkpoint commits with its documents. */
export interface Projection {
  /** Also the checkpoint name; bump its version suffix to rebuild after a change of shape. */
  name: string;
  filter: EventFilter;
  collections: string[];
  /** Secondary query fields per collection. */
  indexes?: Record<string, string[]>;
  /** Events per transaction (default 500); fewer where one event carries many documents. */
  batchSize?: number;
  apply(event: StoredEvent, tx: ReadStoreTx): Promise<void>;
}

/** How long a projection applies events before it lets the event loop turn (requests, timers). */
const YIELD_AFTER_MS = 2;
/**
 * Event data per transaction of a bulk load (a live batch holds about 2 MB). Appends to unindexed tables cost
 * about the same in any size of commit, while what a transaction parsed stays live until it commits: at a million
 * zones, 1 MB caught up in 30 s where 8 MB took 36 s, the difference mostly the garbage collector's.
 */
const BULK_BATCH_BYTES = 1024 * 1024;

export async function startProjection(subscriptions: Subscriptions, readStore: ReadStore, projection: Projection, options: { batchSize?: number; retry?: RetryPolicy } = {}): Promise<Subscription> {
  // No checkpoint under this name: a new projection, or a new version of one. Documents an older version
  // left in its collections would mix two shapes, so it starts from empty collections.
  if ((await readStore.loadCheckpoint(projection.name)) === null) await readStore.reset(projection.name, projection.collections);
  const ensureIndexes = async () => {
    for (const [collection, fields] of Object.entries(projection.indexes ?? {})) {
      for (const field of fields) await readStore.ensureIndex(collection, field);
    }
  };
  // Empty collections (a rebuild, a first start on an imported log) load faster without their secondary indexes:
  // they are built once the projection first reaches the head. Should it stop or crash before that, its next start
  // finds documents and builds them there (and a load left behind in this process ends).
  const bulk = (await readStore.bulkLoad?.(projection.collections, projection.indexes)) ?? null;
  if (!bulk) await ensureIndexes();
  const batchSize = options.batchSize ?? projection.batchSize ?? 500;
  return subscriptions.subscribe(
    projection.name,
    projection.filter,
    (batch: StoredEvent[], context) =>
      readStore.transaction(async (tx) => {
        let turn = performance.now();
        for (let i = 0; i < batch.length; i++) {
          // Reads of a projection resolve at once (SQLite is synchronous): without a pause a batch of hundreds of
          // events would hold the event loop from start to end, and requests wait behind it. By the clock, read
          // every 8 events: a pause per 16 events cost a replay more than a tenth of its time.
          if ((i & 7) === 7 && performance.now() - turn >= YIELD_AFTER_MS) {
            await new Promise((resolve) => setImmediate(resolve));
            turn = performance.now();
          }
          await projection.apply(batch[i]!, tx);
        }
        await context.save(tx);
      }),
    {
      checkpointing: 'by-handler',
      batchSize,
      ...(options.retry ? { retry: options.retry } : {}),
      // Into empty collections, a backlog of small events goes in transactions of up to four times as many events
      // (fewer commits, each with its checkpoint), bounded by their bytes.
      // The indexes are built before the projection says it is caught up (readiness waits for them).
      ...(bulk
        ? {
            catchUp: { batchSize: batchSize * 4, maxBytes: BULK_BATCH_BYTES },
            atHead: async () => {
              await ensureIndexes();
              await bulk();
            },
          }
        : {}),
    },
  );
}

/** Forgets a projection's documents and checkpoint; started again, it rebuilds from position 0. */
export function resetProjection(readStore: ReadStore, projection: Projection): Promise<void> {
  return readStore.reset(projection.name, projection.collections);
}

/**
 * A read model must stay correct where writes are not transactional across documents (MongoDB) and events
 * are redelivered (Kafka): each document remembers, per stream that feeds it, the last version it applied, and
 * an event at or below that version changes nothing. Idempotent by itself, whatever the adapter.
 */
export interface AppliedVersions {
  appliedVersions?: Record<string, number>;
}

export function alreadyApplied(doc: AppliedVersions | null | undefined, event: Pick<StoredEvent, 'streamId' | 'streamVersion'>): boolean {
  const version = doc?.appliedVersions?.[event.streamId];
  return version !== undefined && version >= event.streamVersion;
}

/** The next state of a document, remembering this event's version alongside those it had applied before. */
export function markApplied<D extends Document>(next: D, previous: AppliedVersions | null | undefined, event: Pick<StoredEvent, 'streamId' | 'streamVersion'>): D {
  return { ...next, appliedVersions: { ...previous?.appliedVersions, [event.streamId]: event.streamVersion } };
}

/**
 * Applies an event to one document at most once: `change` receives the document as it is (null when there is
 * none) and returns its next state, or null to leave it as it is.
 */
export async function updateOnce<D extends Document>(tx: ReadStoreTx, collection: string, id: string, event: Pick<StoredEvent, 'streamId' | 'streamVersion'>, change: (current: D | null) => D | null): Promise<void> {
  const current = await tx.get<D & AppliedVersions>(collection, id);
  if (alreadyApplied(current, event)) return;
  const next = change(current);
  if (next) await tx.put(collection, markApplied(next, current, event));
}
