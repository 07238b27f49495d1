export * from './errors.ts';
export * from './ports/eventStore.ts';
export * from './ports/readStore.ts';
export * from './ports/subscriptions.ts';
export * from './projection.ts';
export * from './jsonText.ts';
export * from './closing.ts';
export * from './decider/decider.ts';
export * from './decider/commandHandler.ts';
export * from './decider/deterministicId.ts';
export * from './adapters/sqlite/sqliteDatabase.ts';
export * from './adapters/sqlite/sqliteEventStore.ts';
export * from './adapters/sqlite/sqliteReadStore.ts';
export * from './adapters/inprocess/inProcessSubscriptions.ts';
export * from './adapters/postgres/postgresEventStore.ts';
export * from './adapters/postgres/postgresReadStore.ts';
// MongoDB and KurrentDB are subpaths (@curbmap/eventsourcing/mongo, /kurrentdb), loaded only where configured:
// their drivers cost a process tens of MB it does not use otherwise.
export * from './adapters/copyLog.ts';
export * from './adapters/postgres/postgresLeadership.ts';
export * from './adapters/kafka/kafkaRelay.ts';
export * from './adapters/kafka/kafkaTopics.ts';
export * from './adapters/kafka/kafkaSubscriptions.ts';
