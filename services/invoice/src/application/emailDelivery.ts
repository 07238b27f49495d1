import type { NotificationRequested } from '@curbmap/contracts';
import { loadState, type StoredEvent } from '@curbmap/eventsourcing';
import { runCommand, type Running, type ServiceContext } from '@curbmap/service-kit';
import type { Mailer } from '../adapters/smtpMailer.ts';
import { composeMail } from '../domain/notification/notificationMail.ts';
import { notificationDecider, notificationStream } from '../domain/notification/notificationDecider.ts';
import { invoiceCollections as C, type BillingDetailsView, type InvoiceOrganizationView, type InvoiceView } from '../projections/invoiceProjections.ts';
import { invoicePdf, type PdfDeps } from './invoicePdfs.ts';
import { stillOwed } from './dunning.ts';

export interface EmailDeliveryOptions {
  mailer: Mailer;
  /** `From:` of every mail, e.g. `CurbMap Billing <billing@curbmap.example>`. */
  from: string;
  /** Where the customer's replies go (the billing team, not an unattended sender). */
  replyTo: string;
  /** Renders the invoice PDF attached to `invoice.issued` (null: no Chromium here, the mail says where to fetch it). */
  pdf: PdfDeps | null;
  /** Notifications older than this when first seen (a mailer configured after years) are not mailed. */
  maxAgeMs?: number;
}

/**
 * Mails each notification to the organization's billing e-mail, in its locale, the invoice PDF attached to an
 * issued invoice; records `notification.email.sent` once. A failure is retried by the subscription and then
 * parked as a dead letter (the operator retries it); the Message-ID derives from the notification, so a mail
 * sent again after a crash is recognisably the same.
 */
export function startEmailDelivery(ctx: ServiceContext, options: EmailDeliveryOptions): Running {
  const log = ctx.log.child({ component: 'email-delivery' });
  const maxAgeMs = options.maxAgeMs ?? 3 * 86_400_000;

  async function deliver(stored: StoredEvent): Promise<void> {
    const { notificationId, kind, data } = (stored as unknown as NotificationRequested).data;
    const state = await loadState(ctx.store, notificationDecider, notificationStream(notificationId));
    if (state.status !== 'requested') return; // mailed already
    if (ctx.now().getTime() - Date.parse(stored.occurredAt) > maxAgeMs) {
      log.warn({ notificationId, kind, occurredAt: stored.occurredAt }, 'notification too old to mail; skipped');
      return;
    }
    if (kind === 'invoice.payment_reminder' && !(await stillOwed(ctx, data['invoiceId']))) {
      log.info({ notificationId, invoiceId: data['invoiceId'] }, 'payment reminder not mailed: the invoice is paid, voided or written off since');
      return;
    }
    const organization = await ctx.readStore.get<InvoiceOrganizationView>(C.organizations, stored.organizationId);
    if (!organization?.billingEmail) throw new Error(`organization ${stored.organizationId} has no billing e-mail in the read model yet`);
    const details = await ctx.readStore.get<BillingDetailsView>(C.billingDetails, stored.organizationId);
    const content = composeMail(kind, data, { organizationName: details?.legalName ?? organization.name, locale: details?.locale ?? 'en-US', timeZone: organization.timeZone });
    const attachments: { filename: string; content: Buffer; contentType: string }[] = [];
    if (kind === 'invoice.issued' && options.pdf?.renderer) {
      const invoice = await ctx.readStore.get<InvoiceView>(C.invoices, String(data['invoiceId']));
      if (!invoice) throw new Error(`invoice ${String(data['invoiceId'])} is not in the read model yet`);
      const pdf = await invoicePdf(ctx, options.pdf, invoice);
      const chunks: Buffer[] = [];
      for await (const chunk of pdf.stream) chunks.push(chunk as Buffer);
      attachments.push({ filename: `${invoice.number}.pdf`, content: Buffer.concat(chunks), contentType: 'application/pdf' });
    }
    const messageId = `<${notificationId}@notifications.curbmap>`;
    const to = [organization.billingEmail];
    await options.mailer.send({ messageId, from: options.from, to, replyTo: options.replyTo, subject: content.subject, text: content.text, html: content.html, language: content.language, attachments });
    await runCommand(ctx, notificationDecider, notificationStream(notificationId), { type: 'RecordEmailSent', data: { to, messageId, attachments: attachments.map((a) => a.filename) }, metadata: { commandId: `email:${notificationId}`, now: ctx.now().toISOString(), organizationId: stored.organizationId, causationId: stored.id, correlationId: stored.correlationId } }, { consistent: false });
    log.info({ notificationId, kind, to, attachments: attachments.length }, 'notification mailed');
  }

  // Small batches: a replay after a crash mails again at most a few (with the same Message-ID).
  const sub = ctx.subscriptions.subscribe('invoice.email-delivery.v1', { types: ['notification.requested'] }, async (batch) => {
    for (const stored of batch) await deliver(stored);
  }, { batchSize: 5, retry: { maxAttempts: 6, baseDelayMs: 1_000 } });
  return {
    async stop() {
      await sub.stop();
      options.mailer.close();
    },
  };
}
