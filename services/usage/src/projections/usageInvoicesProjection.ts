import type { InvoiceEvent } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection } from '@curbmap/eventsourcing';

/** An issued invoice as usage needs it to show the usage behind its overage lines; id: the invoice's. */
export interface UsageInvoiceView extends Document {
  number: string;
  /** The usage event it bills: a close (`usage.period.closed`) or an adjustment after it. */
  sourceEventId: string;
  sourceEventType: string;
  /** In the invoice's order (line n is lines[n − 1]); `meter` on overage lines only. */
  lines: { meter: string | null; quantity: number; periodStart: string; periodEnd: string }[];
}

export const usageInvoices = 'usage_invoices';

/** Invoices learned from invoice's events (usage never reads invoice's tables), as they were issued. */
export const usageInvoicesProjection: Projection = {
  name: 'usage.invoices.v1',
  filter: { types: ['invoice.invoice.finalized'] },
  collections: [usageInvoices],
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as Extract<InvoiceEvent, { type: 'invoice.invoice.finalized' }>;
    const { invoiceId, number, sourceEventId, sourceEventType, lines } = event.data;
    await updateOnce<UsageInvoiceView>(tx, usageInvoices, invoiceId, stored, () => ({
      id: invoiceId,
      organizationId: stored.organizationId,
      number,
      sourceEventId,
      sourceEventType,
      lines: lines.map((l) => ({ meter: l.meter ?? null, quantity: l.quantity, periodStart: l.periodStart, periodEnd: l.periodEnd })),
    }));
  },
};
