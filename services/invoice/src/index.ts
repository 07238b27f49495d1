export * from './invoiceModule.ts';
export * from './projections/invoiceProjections.ts';
export * from './application/overageInvoicing.ts';
export * from './adapters/chromiumPdfRenderer.ts';
export * from './domain/template/invoiceDocument.ts';
export * from './adapters/smtpMailer.ts';
export * from './adapters/smtpSink.ts';
export * from './adapters/httpWebhookSender.ts';
