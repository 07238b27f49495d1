import type { ChargeLine, InvoiceFinalized, StripeEventReceived } from '@curbmap/contracts';
import { deterministicUuid, handleCommand, type StoredEvent } from '@curbmap/eventsourcing';
import { reactionMetadata, type Running, type ServiceContext } from '@curbmap/service-kit';
import { invoiceDecider, invoiceStream } from '../domain/invoice/invoiceDecider.ts';
import { invoiceCollections, type InvoiceOrganizationView } from '../projections/invoiceProjections.ts';

type StripeInvoice = Record<string, unknown> & { id: string; object: string };
const mirrored = ['open', 'paid', 'void', 'uncollectible'] as const;
type MirroredStatus = (typeof mirrored)[number];

/** Our id of a Stripe invoice: the one billing records Stripe's payments of it under. */
export const stripeInvoiceId = (stripeId: string) => deterministicUuid(`stripe-invoice:${stripeId}`);

const iso = (seconds: unknown) => new Date(Number(seconds) * 1000).toISOString();
const int = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) ? value : 0);

/**
 * Stripe's invoice in our terms, its amounts as Stripe computed them (never recomputed): each line's amount,
 * the total, the tax (the sum of `total_taxes`), what is due, Stripe's number and dates.
 */
export function finalizedFromStripe(invoice: StripeInvoice, sourceEventId: string): InvoiceFinalized['data'] {
  const lines = ((invoice['lines'] as { data?: Record<string, unknown>[] } | undefined)?.data ?? []).map((l): ChargeLine => {
    const quantity = typeof l['quantity'] === 'number' ? l['quantity'] : 1;
    const amount = int(l['amount']);
    const decimal = Number((l['pricing'] as { unit_amount_decimal?: string | null } | undefined)?.unit_amount_decimal ?? NaN);
    const period = (l['period'] as { start?: number; end?: number } | undefined) ?? {};
    return {
      description: String(l['description'] ?? ''),
      quantity,
      // Shown on the page; the line's amount is Stripe's whatever the unit price's precision.
      unitAmount: Number.isSafeInteger(decimal) ? decimal : quantity > 0 ? Math.round(amount / quantity) : amount,
      amount,
      periodStart: iso(period.start ?? invoice['period_start']),
      periodEnd: iso(period.end ?? invoice['period_end']),
    };
  });
  const taxes = (invoice['total_taxes'] as { amount?: number; taxable_amount?: number | null; tax_behavior?: string }[] | null | undefined) ?? [];
  const taxAmount = taxes.reduce((sum, t) => sum + int(t.amount), 0);
  const taxable = taxes.reduce((sum, t) => sum + int(t.taxable_amount), 0);
  const total = int(invoice['total']);
  const fields = (invoice['custom_fields'] as { name?: string; value?: string }[] | null | undefined) ?? [];
  const transitions = (invoice['status_transitions'] as { finalized_at?: number | null } | undefined) ?? {};
  return {
    invoiceId: stripeInvoiceId(invoice.id),
    number: String(invoice['number'] ?? invoice.id),
    subscriptionId: null,
    currency: String(invoice['currency'] ?? '').toUpperCase(),
    lines,
    subtotal: total - taxAmount,
    tax: { rateBasisPoints: taxable > 0 ? Math.round((taxAmount * 10_000) / taxable) : 0, mode: taxes[0]?.tax_behavior === 'inclusive' ? 'inclusive' : 'exclusive', note: null, amount: taxAmount },
    total,
    amountDue: int(invoice['amount_due']),
    collectionMethod: invoice['collection_method'] === 'send_invoice' ? 'send_invoice' : 'charge_automatically',
    poNumber: fields.find((f) => /^(po|po number|purchase order)$/i.test(f.name ?? ''))?.value ?? null,
    issuedAt: iso(transitions.finalized_at ?? invoice['created']),
    dueAt: invoice['due_date'] ? iso(invoice['due_date']) : null,
    sourceEventId,
    sourceEventType: 'billing.stripe_event.received',
  };
}

/**
 * Mirrors Stripe's invoices (Stripe-collected subscriptions): each finalized Stripe invoice becomes ours with
 * Stripe's number and amounts, void or uncollectible as Stripe says; paid as billing records Stripe's payments of
 * it. Events arrive in any order and more than once: the invoice only moves forward.
 */
export function startStripeInvoiceMirror(ctx: ServiceContext): Running {
  const sub = ctx.subscriptions.subscribe('invoice.stripe-mirror.v1', { types: ['billing.stripe_event.received'] }, async (batch) => {
    for (const stored of batch) await mirror(ctx, stored);
  });
  return { stop: () => sub.stop() };
}

async function mirror(ctx: ServiceContext, stored: StoredEvent): Promise<void> {
  const received = stored.data as StripeEventReceived;
  if (!received.stripeType.startsWith('invoice.')) return;
  const invoice = (received.payload as { data?: { object?: StripeInvoice } }).data?.object;
  if (!invoice || invoice.object !== 'invoice' || !(mirrored as readonly string[]).includes(String(invoice['status']))) return;
  // An invoice of a customer we cannot place belongs to no organization here.
  if (!(await ctx.readStore.get<InvoiceOrganizationView>(invoiceCollections.organizations, stored.organizationId))) return;
  const finalized = finalizedFromStripe(invoice, stored.id);
  await handleCommand(ctx.store, invoiceDecider, invoiceStream(finalized.invoiceId), { type: 'MirrorStripeInvoice', data: { finalized, stripeStatus: invoice['status'] as MirroredStatus }, metadata: reactionMetadata(stored, 'mirror-stripe-invoice') });
}
