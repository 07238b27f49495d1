export * from './invoiceModule.ts';
export * from './projections/invoiceProjections.ts';
export * from './application/overageInvoicing.ts';
export * from './adapters/chromiumPdfRenderer.ts';
export * from './domain/template/invoiceDocument.ts';
