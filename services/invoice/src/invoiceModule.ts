import { invoiceContracts } from '@curbmap/contracts';
import type { ArtifactStore, ServiceModule } from '@curbmap/service-kit';
import type { PdfRenderer } from './adapters/chromiumPdfRenderer.ts';
import { startInvoicingProcess } from './application/invoicingProcess.ts';
import { startOverageInvoicing, type IncludedAmount, type OveragePrice } from './application/overageInvoicing.ts';
import { invoiceRoutes } from './http/invoiceRoutes.ts';
import type { Supplier } from './application/invoiceDocuments.ts';
import { billingDetailsRoutes } from './http/billingDetailsRoutes.ts';
import { invoiceTemplateRoutes } from './http/invoiceTemplateRoutes.ts';
import { invoiceAdminRoutes } from './http/invoiceAdminRoutes.ts';
import { taxSettingsRoutes } from './http/taxSettingsRoutes.ts';
import { billingDetailsProjection, billingTermsProjection, invoiceOrganizationsProjection, invoicesProjection, invoiceTemplateProjection, taxSettingsProjection } from './projections/invoiceProjections.ts';

export interface InvoiceModuleOptions {
  /** Overage prices of the plan catalogue, and what each plan includes. */
  overagePrice: OveragePrice;
  includedAmount: IncludedAmount;
  /** Who issues the invoices, and how to pay them (default: CurbMap's). */
  supplier?: Supplier;
  /** Where invoice PDFs are kept, and what renders them (null: no Chromium here, PDFs answer 503). */
  artifacts: ArtifactStore;
  pdfRenderer: PdfRenderer | null;
}

export const DEFAULT_SUPPLIER: Supplier = {
  legalName: 'CurbMap, Inc.',
  addressLines: ['548 Market Street', 'San Francisco, CA 94104', 'United States'],
  taxId: null,
  remittance: 'Bank transfer to CurbMap, Inc., quoting the invoice number',
};

/** Invoices from what billing charges and from the overage of closed usage periods. Templates, PDF and delivery come with the invoice issue. */
export function createInvoiceModule(options: InvoiceModuleOptions): ServiceModule {
  return {
    name: 'invoice',
    contracts: invoiceContracts,
    projections: [invoiceOrganizationsProjection, billingTermsProjection, invoicesProjection, billingDetailsProjection, taxSettingsProjection, invoiceTemplateProjection],
    async routes(app, ctx) {
      await invoiceRoutes(app, ctx);
      await billingDetailsRoutes(app, ctx);
      await taxSettingsRoutes(app, ctx);
      await invoiceAdminRoutes(app, ctx);
      await invoiceTemplateRoutes(app, ctx, { supplier: options.supplier ?? DEFAULT_SUPPLIER, artifacts: options.artifacts, renderer: options.pdfRenderer });
    },
    async start(ctx) {
      const charges = startInvoicingProcess(ctx);
      const overage = startOverageInvoicing(ctx, options.overagePrice, options.includedAmount);
      return {
        async stop() {
          await overage.stop();
          await charges.stop();
          await options.pdfRenderer?.close();
        },
      };
    },
  };
}
