import { DEFAULT_RENEWAL_NOTICE_DAYS, type BillingEvent, type ExportJobCompleted, type InvoiceFinalized, type NotificationEvent, type NotificationKind, type UsageEvent } from '@curbmap/contracts';
import { deterministicUuid, type CommandMetadata, type StoredEvent } from '@curbmap/eventsourcing';
import { periodicPass, PlanReader, reactionMetadata, runCommand, writeOf, type Running, type ServiceContext } from '@curbmap/service-kit';
import { invoicePlansCollection } from './overageInvoicing.ts';
import { notificationDecider, notificationStream } from '../domain/notification/notificationDecider.ts';
import { invoiceCollections, type InvoiceView } from '../projections/invoiceProjections.ts';
import { invoicesToRemind, reminderFor } from './dunning.ts';
import { notificationCollections, type RenewalView, type WebhookEndpointView } from '../projections/notificationProjections.ts';

const DAY_MS = 86_400_000;

const causeTypes = ['invoice.invoice.finalized', 'billing.payment.succeeded', 'billing.payment.invoice_linked', 'billing.payment.failed', 'billing.subscription.past_due', 'usage.quota.threshold_reached', 'export.job.completed', 'webhook.endpoint.disabled'];

type Cause =
  | Extract<BillingEvent, { type: 'billing.payment.succeeded' | 'billing.payment.invoice_linked' | 'billing.payment.failed' | 'billing.subscription.past_due' }>
  | InvoiceFinalized
  | Extract<UsageEvent, { type: 'usage.quota.threshold_reached' }>
  | ExportJobCompleted
  | Extract<NotificationEvent, { type: 'webhook.endpoint.disabled' }>;

export interface NotificationProcess extends Running {
  /** One pass of the renewal reminders at an instant (operators and tests); also runs every intervalMs. */
  remindRenewals(at?: Date): Promise<number>;
  /** One pass of the payment reminders (each organization's dunning schedule) at an instant; also every intervalMs. */
  remindPayments(at?: Date): Promise<number>;
}

/**
 * What the renewal will charge per seat, beside what the year costs now, as billing's scheduler prices it: the
 * plan that renews (a pending downgrade's, else the current one) at its price, or, when that plan moves renewals
 * to the current version, at the version in effect at the renewal. Stripe renews at the price it holds.
 */
async function renewalPriceOf(plans: PlanReader, r: RenewalView, noticeDays: readonly number[]): Promise<{ planName?: string; currency?: string; unitAmount?: number; renewalUnitAmount?: number; priceChanges?: boolean }> {
  if (r.unitAmount === undefined || !r.currency) return {};
  const renewing = r.pendingPlan ?? { planId: r.planId, name: r.planName, unitAmount: r.unitAmount };
  let renewalUnitAmount = renewing.unitAmount;
  if (r.provider !== 'stripe') {
    const price = (await plans.renewalVersion(renewing.planId, r.renewsAt, noticeDays))?.seatPrices[r.currency];
    if (price !== undefined) renewalUnitAmount = price;
  }
  return { planName: renewing.name, currency: r.currency, unitAmount: r.unitAmount, renewalUnitAmount, priceChanges: renewalUnitAmount !== r.unitAmount };
}

/** Requests a notification once per cause: its id derives from the cause, so a redelivery finds it requested. */
export async function requestNotification(ctx: ServiceContext, metadata: CommandMetadata, kind: NotificationKind, cause: string, data: Record<string, unknown>): Promise<boolean> {
  const notificationId = deterministicUuid(`notification:${kind}:${cause}`);
  const result = await runCommand(ctx, notificationDecider, notificationStream(notificationId), { type: 'RequestNotification', data: { notificationId, kind, cause, data }, metadata }, { consistent: false });
  return result.events.length > 0 && !result.replayed;
}

async function invoiceOf(ctx: ServiceContext, invoiceId: string | null): Promise<InvoiceView | null> {
  return invoiceId ? ctx.readStore.get<InvoiceView>(invoiceCollections.invoices, invoiceId) : null;
}

/** What a cause tells the organization, or null when it tells nothing (credit applied from a balance moved no money). */
async function notificationOf(ctx: ServiceContext, stored: StoredEvent): Promise<{ kind: NotificationKind; data: Record<string, unknown> } | null> {
  const event = { type: stored.type, data: stored.data } as Cause;
  switch (event.type) {
    case 'invoice.invoice.finalized': {
      const d = event.data;
      return { kind: 'invoice.issued', data: { invoiceId: d.invoiceId, number: d.number, currency: d.currency, total: d.total, amountDue: d.amountDue, issuedAt: d.issuedAt, dueAt: d.dueAt, subscriptionId: d.subscriptionId, pdf: `/v1/invoices/${d.invoiceId}/pdf` } };
    }
    case 'billing.payment.succeeded': {
      const d = event.data;
      if (d.method === 'credit_balance') return null;
      // A card payment Stripe has not yet tied to its invoice: the receipt waits for the link (below), so that
      // it names the invoice, and goes once.
      if (d.provider === 'stripe' && d.invoiceId === null) return null;
      const invoice = await invoiceOf(ctx, d.invoiceId);
      return { kind: 'payment.received', data: { paymentId: d.paymentId, invoiceId: d.invoiceId, invoiceNumber: invoice?.number ?? null, amount: d.amount, currency: d.currency, method: d.method, reference: d.reference, receivedAt: d.receivedAt, amountRemaining: d.amountRemaining } };
    }
    case 'billing.payment.invoice_linked': {
      const d = event.data;
      await ctx.waitForReadModels(writeOf(stored)); // the invoice as this payment left it
      const invoice = await invoiceOf(ctx, d.invoiceId);
      return { kind: 'payment.received', data: { paymentId: d.paymentId, invoiceId: d.invoiceId, invoiceNumber: invoice?.number ?? null, amount: d.amount, currency: d.currency, method: 'card', reference: d.reference ?? null, receivedAt: d.receivedAt, amountRemaining: invoice?.amountRemaining ?? 0 } };
    }
    case 'billing.payment.failed': {
      const d = event.data;
      const invoice = await invoiceOf(ctx, d.invoiceId);
      return { kind: 'payment.failed', data: { paymentId: d.paymentId, invoiceId: d.invoiceId, invoiceNumber: invoice?.number ?? null, amount: d.amount, currency: d.currency, failureMessage: d.failureMessage } };
    }
    case 'billing.subscription.past_due': {
      const d = event.data;
      const invoice = await invoiceOf(ctx, d.invoiceId);
      return { kind: 'invoice.overdue', data: { invoiceId: d.invoiceId, number: invoice?.number ?? null, subscriptionId: d.subscriptionId, dueAt: d.dueAt, currency: invoice?.currency ?? null, amountRemaining: invoice?.amountRemaining ?? null } };
    }
    case 'usage.quota.threshold_reached':
      return { kind: 'quota.threshold_reached', data: { ...event.data } };
    case 'export.job.completed': {
      const m = event.data.manifest;
      return { kind: 'export.completed', data: { exportId: stored.streamId.replace(/^export-/, ''), rows: m.rows, bytes: m.bytes, sha256: m.sha256, fileName: m.fileName, expiresAt: m.expiresAt } };
    }
    case 'webhook.endpoint.disabled': {
      const endpoint = await ctx.readStore.get<WebhookEndpointView>(notificationCollections.endpoints, event.data.endpointId);
      return { kind: 'webhook_endpoint.disabled', data: { endpointId: event.data.endpointId, url: endpoint?.url ?? null, reason: event.data.reason, detail: event.data.detail } };
    }
    default: {
      const never: never = event;
      return never;
    }
  }
}

/**
 * Turns what happened into notifications (invoice issued, payment received or failed, invoice overdue, quota
 * threshold, export completed, endpoint disabled), and, on a timer, renewal reminders 30 and 7 days ahead and
 * payment reminders on each organization's dunning schedule.
 * Delivery by e-mail and webhook follows each `notification.requested`.
 */
export function startNotificationProcess(ctx: ServiceContext, options: { renewalIntervalMs: number; renewalNoticeDays?: readonly number[] }): NotificationProcess {
  const noticeDays = [...(options.renewalNoticeDays ?? DEFAULT_RENEWAL_NOTICE_DAYS)].sort((a, b) => b - a);
  const plans = new PlanReader(ctx.readStore, invoicePlansCollection);
  const log = ctx.log.child({ component: 'notifications' });
  const sub = ctx.subscriptions.subscribe('invoice.notifications.v1', { types: causeTypes }, async (batch) => {
    for (const stored of batch) {
      const notification = await notificationOf(ctx, stored);
      if (notification) await requestNotification(ctx, reactionMetadata(stored, 'notify'), notification.kind, stored.id, notification.data);
    }
  });

  const renewals = periodicPass(
    async (at) => {
      let requested = 0;
      const now = at.getTime();
      const horizon = new Date(now + noticeDays[0]! * DAY_MS).toISOString();
      for (const r of await ctx.readStore.find<RenewalView>(notificationCollections.renewals, { renews: true, renewsAt: { $gt: at.toISOString(), $lte: horizon } })) {
        // The nearest reminder due: a subscription found 5 days before renewal gets the 7-day one, not both.
        const daysBefore = [...noticeDays].reverse().find((d) => Date.parse(r.renewsAt) - now <= d * DAY_MS)!;
        const cause = `renewal:${r.subscriptionId}:${r.renewsAt}:${daysBefore}`;
        const metadata = { commandId: `notify:${cause}`, now: at.toISOString(), organizationId: r.organizationId };
        const price = await renewalPriceOf(plans, r, noticeDays);
        if (await requestNotification(ctx, metadata, 'subscription.renewal_due', cause, { subscriptionId: r.subscriptionId, planName: r.planName, seats: r.seats, renewsAt: r.renewsAt, daysBefore, ...price })) requested++;
      }
      return requested;
    },
    { intervalMs: options.renewalIntervalMs, now: () => ctx.now(), onError: (err) => log.error({ err }, 'renewal reminder pass failed') },
  );

  // Each reminder once (its cause: the invoice and the day of the schedule), only while the invoice is unpaid.
  const payments = periodicPass(
    async (at) => {
      let requested = 0;
      const organizations = new Map();
      for (const invoice of await invoicesToRemind(ctx, at)) {
        const due = await reminderFor(ctx, invoice, at, organizations);
        if (!due) continue;
        const cause = `payment-reminder:${invoice.id}:${due.daysFromDue}`;
        const metadata = { commandId: `notify:${cause}`, now: at.toISOString(), organizationId: invoice.organizationId };
        const data = { invoiceId: invoice.id, number: invoice.number, currency: invoice.currency, total: invoice.total, amountRemaining: invoice.amountRemaining, dueAt: invoice.dueAt, daysFromDue: due.daysFromDue, remindedAt: at.toISOString(), pdf: `/v1/invoices/${invoice.id}/pdf` };
        if (await requestNotification(ctx, metadata, 'invoice.payment_reminder', cause, data)) requested++;
      }
      return requested;
    },
    { intervalMs: options.renewalIntervalMs, now: () => ctx.now(), onError: (err) => log.error({ err }, 'payment reminder pass failed') },
  );

  return {
    remindRenewals: (at) => renewals.tick(at),
    remindPayments: (at) => payments.tick(at),
    async stop() {
      await payments.stop();
      await renewals.stop();
      await sub.stop();
    },
  };
}
