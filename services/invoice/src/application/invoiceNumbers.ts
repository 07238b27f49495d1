import { ConcurrencyError, deterministicUuid, type CommandMetadata, type StoredEvent } from '@curbmap/eventsourcing';
import type { ServiceContext } from '@curbmap/service-kit';
import { foldNumbering, formatInvoiceNumber, numberingStream, yearIn, type NumberAssigned } from '../domain/numbering/invoiceNumbering.ts';
import { invoiceCollections, type InvoiceOrganizationView } from '../projections/invoiceProjections.ts';

/** Concurrent finalizations of one organization and year retry this often at most (each retry is one read and one append). */
const MAX_ATTEMPTS = 1000;

/**
 * The invoice's number: the one already assigned to it (a redelivered cause), or the next of its organization's
 * year. Assigned before the invoice is finalized, with an id derived from the invoice's: a crash in between leaves
 * the number reserved for that invoice, which its redelivered cause then finalizes — never a gap.
 */
/** The organization's time zone as invoicing knows it (UTC until its creation is projected). */
export async function organizationZone(ctx: ServiceContext, organizationId: string): Promise<string> {
  return (await ctx.readStore.get<InvoiceOrganizationView>(invoiceCollections.organizations, organizationId))?.timeZone ?? 'UTC';
}

export async function assignInvoiceNumber(ctx: ServiceContext, meta: CommandMetadata, invoiceId: string, issuedAt: string): Promise<string> {
  const year = yearIn(issuedAt, await organizationZone(ctx, meta.organizationId));
  const stream = numberingStream(meta.organizationId, year);
  for (let attempt = 1; ; attempt++) {
    const events: StoredEvent[] = [];
    for await (const e of ctx.store.readStream(stream)) events.push(e);
    const state = foldNumbering(events as (StoredEvent & NumberAssigned)[]);
    const existing = state.assigned.get(invoiceId);
    if (existing) return existing;
    const sequence = state.last + 1;
    const number = formatInvoiceNumber(year, sequence);
    const id = deterministicUuid(`invoice-number:${invoiceId}`);
    try {
      await ctx.store.append(stream, [{ id, type: 'invoice.number.assigned', data: { invoiceId, sequence, number }, occurredAt: issuedAt, organizationId: meta.organizationId, correlationId: meta.correlationId ?? meta.commandId, causationId: meta.causationId ?? meta.commandId }], {
        expectedVersion: state.version === -1 ? 'no_stream' : state.version,
      });
      return number;
    } catch (err) {
      // Another finalization took this number first: read again and take the next.
      if (!(err instanceof ConcurrencyError) || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

/**
 * The number already reserved for this invoice (a finalization cut short after the reservation) and when it was
 * reserved, looked up in each year from `from` to `to` in the organization's zone: the reservation happened in
 * between.
 */
export async function reservedNumber(ctx: ServiceContext, organizationId: string, invoiceId: string, from: string, to: string): Promise<{ number: string; at: string } | null> {
  const timeZone = await organizationZone(ctx, organizationId);
  for (let year = yearIn(from, timeZone); year <= yearIn(to, timeZone); year++) {
    for await (const e of ctx.store.readStream(numberingStream(organizationId, year))) {
      const d = e.data as NumberAssigned['data'];
      if (d.invoiceId === invoiceId) return { number: d.number, at: e.occurredAt };
    }
  }
  return null;
}
