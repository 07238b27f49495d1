import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Logger } from 'pino';
import { allContracts, EventRegistry } from '@curbmap/contracts';
import { closeInOrder, InProcessSubscriptions, KafkaRelay, KafkaSubscriptions, PostgresEventStore, PostgresLeadership, PostgresReadStore, SqliteDatabase, SqliteEventStore, SqliteReadStore, type Checkpoint, type EventStore, type ReadStore, type Subscriptions } from '@curbmap/eventsourcing';
import type { ServiceModule } from '../serviceModule.ts';
import { markingWrites } from '../http/requestWrites.ts';

export interface StorageOptions {
  /** DATABASE_URL: PostgreSQL holds the events, checkpoints and read models instead of the SQLite file. */
  databaseUrl?: string | null;
  /** MONGO_URL: read models and checkpoints on MongoDB (or FerretDB); the events stay where they are. */
  mongoUrl?: string | null;
  /** KURRENTDB_URL: the events in KurrentDB/EventStoreDB (not run against a server here: docs/architecture/deployment.md). */
  kurrentdbUrl?: string | null;
  /** KAFKA_BROKERS: subscriptions are Kafka consumer groups (needs DATABASE_URL: every process shares the store). */
  kafkaBrokers?: string[] | null;
  /** KAFKA_PARTITIONS: partitions of each topic created here. */
  kafkaPartitions?: number;
  /** Publish the log to Kafka from this process (one process of an installation: the gateway). */
  relay?: boolean;
  /** Kafka client id (the process's name). */
  clientId?: string;
}

export interface Storage {
  registry: EventRegistry;
  store: EventStore;
  readStore: ReadStore;
  subscriptions: Subscriptions & { waitForAll(position: Checkpoint, timeoutMs?: number): Promise<void> };
  /** Is the storage usable (readiness). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The storage adapters, chosen here only: one SQLite file (the event log, checkpoints and read models) by default;
 * PostgreSQL when DATABASE_URL is set (the same schema for every process sharing it); with KAFKA_BROKERS too,
 * subscriptions consume Kafka topics and one process relays the log to them. MONGO_URL moves the read models and
 * checkpoints (not the events) to MongoDB in either case.
 */
export async function openStorage(dataDir: string, modules: ServiceModule[], logger: Logger, options: StorageOptions = {}): Promise<Storage> {
  const { databaseUrl = null, kafkaBrokers = null, mongoUrl = null, kurrentdbUrl = null } = options;
  const registry = new EventRegistry();
  // A process of one service still reads every type (and appends only its own).
  const own = new Set(modules.flatMap((m) => m.contracts.map((c) => c.type)));
  registry.register(...modules.flatMap((m) => m.contracts), ...(kafkaBrokers ? allContracts.filter((c) => !own.has(c.type)) : []));
  const log = logger.child({ component: 'subscriptions' });
  if (kafkaBrokers && !databaseUrl) throw new Error('KAFKA_BROKERS needs DATABASE_URL: the services of a distributed installation share one store');
  // Their drivers are loaded only when configured (tens of MB a process does not use otherwise).
  const mongo = mongoUrl ? await (await import('@curbmap/eventsourcing/mongo')).MongoReadStore.open(mongoUrl) : null;
  const openKurrent = async () => (await import('@curbmap/eventsourcing/kurrentdb')).KurrentDbEventStore.open(kurrentdbUrl!, registry);
  // Readiness asks the read store too when it is a server of its own.
  const mongoHealthy = async () => (mongo ? mongo.ping().then(() => true, () => false) : true);
  // What is open, to close last first: by close(), and by a failed start (an open client or pool would keep the
  // process alive).
  const opened: (() => unknown)[] = [() => mongo?.close()];
  const lastFirst = () => [...opened].reverse();
  try {
    return await openStores();
  } catch (err) {
    await closeInOrder(lastFirst()).catch((closing: unknown) => log.error({ err: closing }, 'closing a storage that failed to open failed'));
    throw err;
  }

  async function openStores(): Promise<Storage> {
    if (databaseUrl) {
      // A request that appended and then lost the store answers so (problemErrors.ts): its write may stand.
      const store = markingWrites(kurrentdbUrl ? await openKurrent() : await PostgresEventStore.open(databaseUrl, registry));
      opened.push(() => store.close());
      const readStore = mongo ?? (await PostgresReadStore.open(databaseUrl));
      if (!mongo) opened.push(() => readStore.close());
      let subscriptions: Storage['subscriptions'];
      if (kafkaBrokers) {
        const kafka = new Kafka({ clientId: options.clientId ?? 'curbmap', brokers: kafkaBrokers, logLevel: logLevel.ERROR, logCreator: () => ({ namespace, log: entry }) => log.error({ kafka: namespace, ...entry }, entry.message) });
        subscriptions = new KafkaSubscriptions({ kafka, store, checkpoints: readStore, log, ...(options.kafkaPartitions ? { partitions: options.kafkaPartitions } : {}) });
        // Any gateway process may relay; the one holding the lock does (two relays would interleave the log).
        const relay = options.relay ? new KafkaRelay({ store, checkpoints: readStore, kafka, log, ...(options.kafkaPartitions ? { partitions: options.kafkaPartitions } : {}), leadership: new PostgresLeadership(databaseUrl, 'kafka-relay') }) : null;
        if (relay) opened.push(() => relay.stop());
        await relay?.start();
      } else {
        // Appends made here wake subscriptions here at once; other processes' are found by polling.
        subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (listener) => store.onAppended(listener), appendedPositionsReadable: kurrentdbUrl !== null, lingerMs: 5, pollIntervalMs: 250, log });
      }
      return {
        registry,
        store,
        readStore,
        subscriptions,
        healthy: async () => (await store.headPosition().then(() => true, () => false)) && (await mongoHealthy()),
        close: () => closeInOrder([() => subscriptions.stopAll(), ...lastFirst()]),
      };
    }
    const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
    opened.push(() => closeInOrder([() => database.stopBackgroundCheckpoints(), () => database.close()]));
    database.startBackgroundCheckpoints();
    // KURRENTDB_URL: the events there, read models and checkpoints in this file (or MONGO_URL); others' appends are polled.
    const store = kurrentdbUrl ? markingWrites(await openKurrent()) : new SqliteEventStore(database, registry);
    opened.push(() => store.close());
    const readStore = mongo ?? new SqliteReadStore(database);
    const subscriptions = new InProcessSubscriptions({ store, checkpoints: readStore, onAppended: (listener) => store.onAppended(listener), lingerMs: 5, ...(kurrentdbUrl ? { pollIntervalMs: 250 } : {}), log });
    return {
      registry,
      store,
      readStore,
      subscriptions,
      healthy: async () => database.db.isOpen && (!kurrentdbUrl || (await store.headPosition().then(() => true, () => false))) && (await mongoHealthy()),
      close: () => closeInOrder(lastFirst()),
    };
  }
}
