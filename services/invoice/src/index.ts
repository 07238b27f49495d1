export * from './invoiceModule.ts';
export * from './projections/invoiceProjections.ts';
export * from './application/overageInvoicing.ts';
