export * from './billingModule.ts';
export * from './plans/planCatalog.ts';
export * from './adapters/payment/paymentProvider.ts';
export * from './adapters/payment/manualPaymentProvider.ts';
export * from './application/subscriptionCommands.ts';
export * from './projections/billingProjections.ts';
