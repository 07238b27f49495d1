import { invoiceContracts } from '@curbmap/contracts';
import type { ServiceModule } from '@curbmap/service-kit';
import { startInvoicingProcess } from './application/invoicingProcess.ts';
import { invoiceRoutes } from './http/invoiceRoutes.ts';
import { billingTermsProjection, invoicesProjection } from './projections/invoiceProjections.ts';

/** Invoices from what billing charges. Templates, PDF and delivery come with the invoice issue. */
export const invoiceModule: ServiceModule = {
  name: 'invoice',
  contracts: invoiceContracts,
  projections: [billingTermsProjection, invoicesProjection],
  routes: invoiceRoutes,
  start: async (ctx) => startInvoicingProcess(ctx),
};
