import { invoiceContracts, notificationContracts } from '@curbmap/contracts';
import type { ArtifactStore, ServiceModule } from '@curbmap/service-kit';
import type { PdfRenderer } from './adapters/chromiumPdfRenderer.ts';
import { startInvoicingProcess } from './application/invoicingProcess.ts';
import { invoiceContractsProjection, invoicePlansProjection, startOverageInvoicing } from './application/overageInvoicing.ts';
import { invoiceRoutes } from './http/invoiceRoutes.ts';
import type { Supplier } from './application/invoiceDocuments.ts';
import { billingDetailsRoutes } from './http/billingDetailsRoutes.ts';
import { invoiceTemplateRoutes } from './http/invoiceTemplateRoutes.ts';
import { invoiceAdminRoutes } from './http/invoiceAdminRoutes.ts';
import { revenueReportRoutes } from './http/revenueReportRoutes.ts';
import { revenueProjection } from './projections/revenueProjection.ts';
import { taxSettingsRoutes } from './http/taxSettingsRoutes.ts';
import { dunningRoutes } from './http/dunningRoutes.ts';
import { webhookEndpointRoutes } from './http/webhookEndpointRoutes.ts';
import type { Mailer } from './adapters/smtpMailer.ts';
import type { WebhookSender } from './adapters/httpWebhookSender.ts';
import { startEmailDelivery } from './application/emailDelivery.ts';
import { startPdfRendering } from './application/invoicePdfs.ts';
import { startStripeInvoiceMirror } from './application/stripeInvoiceMirror.ts';
import { startNotificationProcess, type NotificationProcess } from './application/notificationProcess.ts';
import { startWebhookDelivery, type WebhookDelivery } from './application/webhookDelivery.ts';
import { paymentRemindersProjection, renewalsProjection, webhookEndpointsProjection, webhookMessagesProjection } from './projections/notificationProjections.ts';
import { billingDetailsProjection, billingTermsProjection, invoiceOrganizationsProjection, invoicesProjection, invoiceTemplateProjection, taxSettingsProjection, uncreditedAdjustmentsProjection, dunningScheduleProjection } from './projections/invoiceProjections.ts';

export interface InvoiceModuleOptions {
  /** Overage prices of the plan catalogue, and what each plan includes. */
  /** Who issues the invoices, and how to pay them (default: CurbMap's). */
  supplier?: Supplier;
  /** Where invoice PDFs are kept, and what renders them (null: no Chromium here, PDFs answer 503). */
  artifacts: ArtifactStore;
  pdfRenderer: PdfRenderer | null;
  /** Notifications by e-mail (null: not mailed here; webhooks still go). */
  mail: { mailer: Mailer; from: string; replyTo: string } | null;
  /** Outgoing webhooks: what sends them, and whether loopback and private addresses may be endpoints. */
  webhooks: { sender: WebhookSender; allowPrivateNetworks: boolean; intervalMs?: number };
  /** Render each invoice's PDF when it is finalized (default true; tests without Chromium work turn it off). */
  renderPdfsOnIssue?: boolean;
  /** How often renewal reminders are looked for (default hourly). */
  renewalReminderIntervalMs?: number;
  renewalNoticeDays?: number[];
}

export interface InvoiceModule extends ServiceModule {
  /** Set once started: passes at a given instant for tests and operators. */
  webhooks: WebhookDelivery | null;
  notifications: NotificationProcess | null;
}

export const DEFAULT_SUPPLIER: Supplier = {
  legalName: 'CurbMap, Inc.',
  addressLines: ['548 Market Street', 'San Francisco, CA 94104', 'United States'],
  taxId: null,
  remittance: 'Bank transfer to CurbMap, Inc., quoting the invoice number',
};

/** Invoices from what billing charges and from the overage of closed usage periods. Templates, PDF and delivery come with the invoice issue. */
export function createInvoiceModule(options: InvoiceModuleOptions): InvoiceModule {
  const supplier = options.supplier ?? DEFAULT_SUPPLIER;
  const module: InvoiceModule = {
    name: 'invoice',
    webhooks: null,
    notifications: null,
    contracts: [...invoiceContracts, ...notificationContracts],
    projections: [invoicePlansProjection, uncreditedAdjustmentsProjection, invoiceOrganizationsProjection, billingTermsProjection, invoicesProjection, billingDetailsProjection, taxSettingsProjection, invoiceTemplateProjection, webhookEndpointsProjection, webhookMessagesProjection, renewalsProjection, dunningScheduleProjection, paymentRemindersProjection, revenueProjection, invoiceContractsProjection],
    async routes(app, ctx) {
      await invoiceRoutes(app, ctx);
      await billingDetailsRoutes(app, ctx);
      await taxSettingsRoutes(app, ctx);
      await dunningRoutes(app, ctx);
      await invoiceAdminRoutes(app, ctx);
      await revenueReportRoutes(app, ctx);
      await invoiceTemplateRoutes(app, ctx, { supplier, artifacts: options.artifacts, renderer: options.pdfRenderer });
      await webhookEndpointRoutes(app, ctx, { allowPrivateNetworks: options.webhooks.allowPrivateNetworks, kick: () => void module.webhooks?.tick().catch((err) => ctx.log.error({ err }, 'webhook delivery pass failed')) });
    },
    async start(ctx) {
      const charges = startInvoicingProcess(ctx);
      const stripe = startStripeInvoiceMirror(ctx);
      const overage = startOverageInvoicing(ctx);
      const notifications = startNotificationProcess(ctx, { renewalIntervalMs: options.renewalReminderIntervalMs ?? 3_600_000, ...(options.renewalNoticeDays ? { renewalNoticeDays: options.renewalNoticeDays } : {}) });
      const webhooks = startWebhookDelivery(ctx, options.webhooks.sender, { intervalMs: options.webhooks.intervalMs ?? 5_000 });
      const mail = options.mail ? startEmailDelivery(ctx, { ...options.mail, pdf: { renderer: options.pdfRenderer, artifacts: options.artifacts, supplier } }) : null;
      const pdfs = options.pdfRenderer && options.renderPdfsOnIssue !== false ? startPdfRendering(ctx, { renderer: options.pdfRenderer, artifacts: options.artifacts, supplier }) : null;
      module.notifications = notifications;
      module.webhooks = webhooks;
      return {
        async stop() {
          await mail?.stop();
          await pdfs?.stop();
          await webhooks.stop();
          await notifications.stop();
          await overage.stop();
          await charges.stop();
          await stripe.stop();
          await options.pdfRenderer?.close();
        },
      };
    },
  };
  return module;
}
