export * from './deciderSpec.ts';
export * from './testEvents.ts';
export * from './contracts/eventStoreContract.ts';
export * from './contracts/readStoreContract.ts';
export * from './contracts/subscriptionsContract.ts';
export * from './contracts/artifactStoreContract.ts';
export * from './webhookReceiver.ts';
export * from './sharedServer.ts';
