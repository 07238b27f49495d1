import { join } from 'node:path';
import { LocalDirectoryArtifactStore, type ArtifactStore, type BankDetails } from '@curbmap/service-kit';
import { ChromiumPdfRenderer, chromiumPath } from './adapters/chromiumPdfRenderer.ts';
import { HttpWebhookSender, type WebhookSender } from './adapters/httpWebhookSender.ts';
import { SmtpMailer } from './adapters/smtpMailer.ts';
import { createInvoiceModule, DEFAULT_SUPPLIER, type InvoiceModule } from './invoiceModule.ts';

export interface InvoiceSetupOptions {
  dataDir: string;
  /** Shared with the export service; by default the data directory's artifacts/. */
  artifacts?: ArtifactStore;
  /** SMTP_URL: notifications are mailed there (none: not mailed). */
  smtpUrl?: string | null;
  mailFrom?: string;
  mailReplyTo?: string;
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS. */
  webhookAllowPrivateNetworks?: boolean;
  /** Replaces the HTTP webhook sender (tests). */
  webhookSender?: WebhookSender;
  webhookIntervalMs?: number;
  renewalReminderIntervalMs?: number;
  /** Days before a renewal its notices go (default 30 and 7). */
  renewalNoticeDays?: number[];
  /** Render invoice PDFs when invoices are finalized (default true). */
  renderPdfsOnIssue?: boolean;
  /** CURBMAP_REMITTANCE_*: the operator's account, printed on invoices paid by transfer. */
  remittance?: BankDetails | null;
}

/** The invoice service, configured (embedded or in its own process). */
export function setUpInvoice(options: InvoiceSetupOptions): InvoiceModule {
  const chromium = chromiumPath();
  return createInvoiceModule({
    artifacts: options.artifacts ?? new LocalDirectoryArtifactStore(join(options.dataDir, 'artifacts')),
    pdfRenderer: chromium ? new ChromiumPdfRenderer(chromium) : null,
    mail: options.smtpUrl ? { mailer: new SmtpMailer(options.smtpUrl), from: options.mailFrom ?? 'CurbMap Billing <billing@curbmap.localhost>', replyTo: options.mailReplyTo ?? 'billing-support@curbmap.localhost' } : null,
    webhooks: {
      sender: options.webhookSender ?? new HttpWebhookSender({ allowPrivateNetworks: options.webhookAllowPrivateNetworks ?? false }),
      allowPrivateNetworks: options.webhookAllowPrivateNetworks ?? false,
      ...(options.webhookIntervalMs ? { intervalMs: options.webhookIntervalMs } : {}),
    },
    ...(options.renewalReminderIntervalMs ? { renewalReminderIntervalMs: options.renewalReminderIntervalMs } : {}),
    ...(options.renewalNoticeDays ? { renewalNoticeDays: options.renewalNoticeDays } : {}),
    renderPdfsOnIssue: options.renderPdfsOnIssue ?? true,
    supplier: { ...DEFAULT_SUPPLIER, bankDetails: options.remittance ?? null },
  });
}
