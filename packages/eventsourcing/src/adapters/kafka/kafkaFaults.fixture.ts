// The relay and a projection fed by Kafka, each in a process a test kills with SIGKILL and starts again.
import { Kafka, logLevel } from 'kafkajs';
import { testRegistry } from '@curbmap/testing';
import { startProjection } from '../../projection.ts';
import { SqliteDatabase } from '../sqlite/sqliteDatabase.ts';
import { SqliteEventStore } from '../sqlite/sqliteEventStore.ts';
import { SqliteReadStore } from '../sqlite/sqliteReadStore.ts';
import { tallyProjection } from '../sqlite/subscriptionRestart.fixture.ts';
import { KafkaRelay } from './kafkaRelay.ts';
import { KafkaSubscriptions } from './kafkaSubscriptions.ts';

const [mode, path, brokers] = process.argv.slice(2) as [string, string, string];
const database = new SqliteDatabase(path);
const store = new SqliteEventStore(database, testRegistry());
const readStore = new SqliteReadStore(database);
const kafka = new Kafka({ clientId: `fault-${mode}`, brokers: brokers.split(','), logLevel: logLevel.NOTHING });

if (mode === 'relay') {
  // Small batches: a kill lands between a send and its checkpoint now and then.
  const relay = new KafkaRelay({ store, checkpoints: readStore, kafka, batchSize: 50, idleMs: 10 });
  await relay.start();
  setInterval(() => process.stdout.write(`relayed ${relay.count}\n`), 20);
} else if (mode === 'consume') {
  // Counts applications, not events: an event applied twice shows as applied > events.
  const subscriptions = new KafkaSubscriptions({ kafka, store, checkpoints: readStore, sessionTimeoutMs: 6_000 });
  await startProjection(subscriptions, readStore, tallyProjection(20), { batchSize: 100 });
  process.stdout.write('consuming\n');
}
