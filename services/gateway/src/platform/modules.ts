import {
  meters,
  createBillingModule,
  type Meter,
  EventSourcedCustomerLinks,
  ManualPaymentProvider,
  PlanCatalog,
  StripePaymentProvider,
  type BillingDeps,
  type BillingModule,
  type PaymentProvider,
} from '@curbmap/billing';
import { join } from 'node:path';
import { createExportModule, type ExportModule } from '@curbmap/export';
import { ChromiumPdfRenderer, chromiumPath, createInvoiceModule, HttpWebhookSender, SmtpMailer, type InvoiceModule, type WebhookSender } from '@curbmap/invoice';
import { createUsageModule, type UsageModule } from '@curbmap/usage';
import { LocalDirectoryArtifactStore, type ServiceModule } from '@curbmap/service-kit';
import { resolveSecret } from './adminToken.ts';
import { tenancyModule } from '../tenancyModule.ts';

export interface ModulesOptions {
  /** Where artifacts (exports) and generated secrets are kept. */
  dataDir: string;
  /** CURBMAP_DOWNLOAD_SECRET (signs download links); generated into the data directory when absent. */
  downloadSecret?: string | null;
  /** How long export artifacts are kept. */
  exportRetentionMs?: number;
  /** How often due scheduled exports are looked for. */
  exportScheduleIntervalMs?: number;
  plansFile?: string | null;
  billingSchedulerIntervalMs?: number;
  /** STRIPE_SECRET_KEY (+ STRIPE_API_BASE): payments through Stripe; manual collection otherwise. */
  stripe?: { secretKey: string; apiBase?: string | null; maxNetworkRetries?: number } | null;
  /** STRIPE_WEBHOOK_SECRET. */
  stripeWebhookSecret?: string | null;
  /** Replaces the provider chosen from the options (tests). */
  provider?: PaymentProvider;
  /** How often due usage periods are closed. */
  usageCloseIntervalMs?: number;
  /** How often API request counts are ingested as usage. */
  apiUsageFlushMs?: number;
  /** SMTP_URL: notifications are mailed there (none: not mailed). */
  smtpUrl?: string | null;
  mailFrom?: string;
  mailReplyTo?: string;
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS. */
  webhookAllowPrivateNetworks?: boolean;
  /** Replaces the HTTP webhook sender (tests). */
  webhookSender?: WebhookSender;
  /** How often due webhook retries are sent. */
  webhookIntervalMs?: number;
  renewalReminderIntervalMs?: number;
  /** Render invoice PDFs when invoices are finalized (default true). */
  renderPdfsOnIssue?: boolean;
  /** Wraps the chosen provider (tests: a crash right after a provider call). */
  wrapProvider?: (provider: PaymentProvider) => PaymentProvider;
}

export interface PlatformModules {
  all: ServiceModule[];
  billing: BillingModule;
  /** What billing's application layer needs besides the context (demo seeding, tests). */
  billingDeps: Omit<BillingDeps, 'ctx'>;
  stripe: StripePaymentProvider | null;
  usage: UsageModule;
  export: ExportModule;
  invoice: InvoiceModule;
}

/** Every service the embedded platform hosts, configured: the one place the payment provider is chosen. */
export function createModules(options: ModulesOptions): PlatformModules {
  const customerLinks = new EventSourcedCustomerLinks();
  const stripe = options.stripe ? new StripePaymentProvider(options.stripe, customerLinks) : null;
  const chosen = options.provider ?? stripe ?? new ManualPaymentProvider();
  const billingDeps = { catalog: PlanCatalog.load(options.plansFile ?? undefined), provider: options.wrapProvider ? options.wrapProvider(chosen) : chosen };
  const billing = createBillingModule({
    ...billingDeps,
    ...(options.billingSchedulerIntervalMs ? { schedulerIntervalMs: options.billingSchedulerIntervalMs } : {}),
    webhookSecret: options.stripeWebhookSecret ?? null,
    listStripeEvents: stripe ? (since) => stripe.listEvents(since) : null,
    stripeLookup: stripe,
    customerLinks,
  });
  const usage = createUsageModule({
    includedUsage: (planId) => billingDeps.catalog.get(planId)?.includedUsage ?? null,
    pricedMeters: [...meters],
    ...(options.usageCloseIntervalMs ? { closeIntervalMs: options.usageCloseIntervalMs } : {}),
    ...(options.apiUsageFlushMs ? { apiUsageFlushMs: options.apiUsageFlushMs } : {}),
  });
  // Exports and invoice PDFs share one artifact store (keys under exports/ and invoices/).
  const artifacts = new LocalDirectoryArtifactStore(join(options.dataDir, 'artifacts'));
  const exports = createExportModule({
    artifacts,
    stagingDir: join(options.dataDir, 'staging'),
    downloadSecret: resolveSecret(options.downloadSecret ?? null, options.dataDir, 'download-secret', 'cmd_').secret,
    ...(options.exportRetentionMs ? { retentionMs: options.exportRetentionMs } : {}),
    ...(options.exportScheduleIntervalMs ? { scheduleIntervalMs: options.exportScheduleIntervalMs } : {}),
  });
  const chromium = chromiumPath();
  const invoice = createInvoiceModule({
    artifacts,
    pdfRenderer: chromium ? new ChromiumPdfRenderer(chromium) : null,
    overagePrice: (planId, meter) => billingDeps.catalog.get(planId)?.overage[meter as Meter] ?? null,
    includedAmount: (planId, meter) => billingDeps.catalog.get(planId)?.includedUsage[meter as Meter] ?? null,
    mail: options.smtpUrl ? { mailer: new SmtpMailer(options.smtpUrl), from: options.mailFrom ?? 'CurbMap Billing <billing@curbmap.localhost>', replyTo: options.mailReplyTo ?? 'billing-support@curbmap.localhost' } : null,
    webhooks: {
      sender: options.webhookSender ?? new HttpWebhookSender({ allowPrivateNetworks: options.webhookAllowPrivateNetworks ?? false }),
      allowPrivateNetworks: options.webhookAllowPrivateNetworks ?? false,
      ...(options.webhookIntervalMs ? { intervalMs: options.webhookIntervalMs } : {}),
    },
    ...(options.renewalReminderIntervalMs ? { renewalReminderIntervalMs: options.renewalReminderIntervalMs } : {}),
    renderPdfsOnIssue: options.renderPdfsOnIssue ?? true,
  });
  return { all: [tenancyModule, billing, invoice, usage, exports], billing, billingDeps, stripe, usage, export: exports, invoice };
}
