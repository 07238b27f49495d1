export * from './invoiceModule.ts';
export * from './projections/invoiceProjections.ts';
