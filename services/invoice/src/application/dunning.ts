import type { Filter } from '@curbmap/eventsourcing';
import type { ServiceContext } from '@curbmap/service-kit';
import { DEFAULT_DUNNING_DAYS, reminderDue, remindersFor } from '../domain/dunning/dunningSchedule.ts';
import { invoiceCollections, type DunningScheduleView, type InvoiceOrganizationView, type InvoiceView } from '../projections/invoiceProjections.ts';
import { notificationCollections, type PaymentReminderView } from '../projections/notificationProjections.ts';

export interface DunningSchedule {
  daysFromDue: number[];
  /** Not set by the operator: DEFAULT_DUNNING_DAYS. */
  isDefault: boolean;
}

/** The invoices reminders are for: sent to be paid by transfer (a card is charged, and retried, by Stripe). */
const remindable = (invoice: InvoiceView) => invoice.collectionMethod === 'send_invoice' && invoice.dueAt !== null && invoice.amountRemaining > 0 && (invoice.status === 'open' || invoice.status === 'partially_paid');

export async function dunningScheduleOf(ctx: ServiceContext, organizationId: string): Promise<DunningSchedule> {
  const view = await ctx.readStore.get<DunningScheduleView>(invoiceCollections.dunningSchedules, organizationId);
  return view ? { daysFromDue: view.daysFromDue, isDefault: false } : { daysFromDue: [...DEFAULT_DUNNING_DAYS], isDefault: true };
}

async function timeZoneOf(ctx: ServiceContext, organizationId: string): Promise<string> {
  return (await ctx.readStore.get<InvoiceOrganizationView>(invoiceCollections.organizations, organizationId))?.timeZone ?? 'UTC';
}

/** The invoices reminders are for among those the filter finds (each unpaid status in turn). */
async function remindableInvoices(ctx: ServiceContext, filter: Filter): Promise<InvoiceView[]> {
  const found: InvoiceView[] = [];
  for (const status of ['open', 'partially_paid'] as const) found.push(...(await ctx.readStore.find<InvoiceView>(invoiceCollections.invoices, { ...filter, status })));
  return found.filter(remindable);
}

/** The unpaid invoices of every organization a reminder may be due for at `at` (due within the schedule's reach). */
export async function invoicesToRemind(ctx: ServiceContext, at: Date): Promise<InvoiceView[]> {
  // The earliest reminder a schedule allows is 90 days before the due date (the event's schema).
  return remindableInvoices(ctx, { dueAt: { $lte: new Date(at.getTime() + 91 * 86_400_000).toISOString() } });
}

/** The reminder due now for one invoice (its organization's schedule, in its zone), or null. */
export async function reminderFor(ctx: ServiceContext, invoice: InvoiceView, at: Date, cache = new Map<string, { schedule: DunningSchedule; timeZone: string }>()): Promise<{ daysFromDue: number; at: string } | null> {
  let org = cache.get(invoice.organizationId);
  if (!org) cache.set(invoice.organizationId, (org = { schedule: await dunningScheduleOf(ctx, invoice.organizationId), timeZone: await timeZoneOf(ctx, invoice.organizationId) }));
  return reminderDue(org.schedule.daysFromDue, invoice.issuedAt, invoice.dueAt!, org.timeZone, at);
}

export interface InvoiceReminders {
  invoiceId: string;
  number: string;
  currency: string;
  amountRemaining: number;
  dueAt: string;
  /** Each reminder of the schedule: when it goes (or went), and when it was sent (null: not sent). */
  reminders: { daysFromDue: number; at: string; sentAt: string | null }[];
}

/** An organization's schedule and, for each of its unpaid invoices collected by transfer, its reminders. */
export async function dunningOverview(ctx: ServiceContext, organizationId: string): Promise<DunningSchedule & { timeZone: string; invoices: InvoiceReminders[] }> {
  const schedule = await dunningScheduleOf(ctx, organizationId);
  const timeZone = await timeZoneOf(ctx, organizationId);
  const invoices: InvoiceReminders[] = [];
  for (const invoice of await remindableInvoices(ctx, { organizationId })) {
    const sent = await ctx.readStore.find<PaymentReminderView>(notificationCollections.paymentReminders, { organizationId, invoiceId: invoice.id });
    const sentAt = new Map(sent.map((r) => [r.daysFromDue, r.requestedAt]));
    // A reminder of an earlier schedule that was sent stays listed.
    const days = [...new Set([...schedule.daysFromDue, ...sentAt.keys()])];
    invoices.push({
      invoiceId: invoice.id,
      number: invoice.number,
      currency: invoice.currency,
      amountRemaining: invoice.amountRemaining,
      dueAt: invoice.dueAt!,
      reminders: remindersFor(days, invoice.issuedAt, invoice.dueAt!, timeZone).map((r) => ({ ...r, sentAt: sentAt.get(r.daysFromDue) ?? null })),
    });
  }
  invoices.sort((a, b) => a.dueAt.localeCompare(b.dueAt) || a.number.localeCompare(b.number));
  return { ...schedule, timeZone, invoices };
}

/**
 * Is the invoice a reminder names still owed? Checked again as the reminder is mailed and posted: one requested
 * before a payment, a void or a write-off (delivery retried, or parked and retried later) is not sent after it.
 */
export async function stillOwed(ctx: ServiceContext, invoiceId: unknown): Promise<boolean> {
  const invoice = await ctx.readStore.get<InvoiceView>(invoiceCollections.invoices, String(invoiceId));
  return invoice !== null && remindable(invoice);
}
