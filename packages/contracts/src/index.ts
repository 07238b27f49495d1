export * from './envelope.ts';
export * from './eventRegistry.ts';
export * from './events/common.ts';
export * from './events/tenancy.ts';
export * from './events/billing.ts';
export * from './events/invoice.ts';
export * from './events/usage.ts';
export * from './events/export.ts';
