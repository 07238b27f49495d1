import type { ChargeLine } from '@curbmap/contracts';
import { deterministicUuid, handleCommand, type StoredEvent } from '@curbmap/eventsourcing';
import { reactionMetadata, type ServiceContext } from '@curbmap/service-kit';
import { invoiceDecider, invoiceStream } from '../domain/invoice/invoiceDecider.ts';
import type { BillingTermsView } from '../projections/invoiceProjections.ts';
import { assignInvoiceNumber, organizationZone, reservedNumber } from './invoiceNumbers.ts';
import { taxSettingsOf } from './taxSettings.ts';

/**
 * Issues the invoice a cause asks for, once: its id derives from the causing event (`<cause>:<event id>`); it is
 * drafted with the organization's tax, then finalized with the organization's next number for the year and a due
 * date in the organization's zone. It is issued when the reaction runs, not when its cause happened: a reaction
 * that runs late (after an outage, a dead letter retried) issues it that day, numbered in that day's year. A
 * redelivered cause whose first run reserved a number finishes it at the reservation's time, in that year.
 */
export async function issueInvoiceFor(
  ctx: ServiceContext,
  stored: StoredEvent,
  cause: { idPrefix: string; action: string },
  charge: { subscriptionId: string | null; currency: string; lines: ChargeLine[]; terms: Pick<BillingTermsView, 'collectionMethod' | 'daysUntilDue' | 'poNumber'> },
): Promise<void> {
  const invoiceId = deterministicUuid(`${cause.idPrefix}:${stored.id}`);
  const metadata = { ...reactionMetadata(stored, cause.action), now: ctx.now().toISOString() };
  const tax = await taxSettingsOf(ctx, stored.organizationId);
  const timeZone = await organizationZone(ctx, stored.organizationId);
  const { terms } = charge;
  const streamId = invoiceStream(invoiceId);
  // Drawn up, numbered, finalized: a crash between the steps is finished by the cause's redelivery, each step
  // finding the one before done (the draft stays as drawn, the number stays reserved for this invoice).
  await handleCommand(ctx.store, invoiceDecider, streamId, {
    type: 'DraftInvoice',
    data: {
      invoiceId,
      subscriptionId: charge.subscriptionId,
      currency: charge.currency,
      lines: charge.lines,
      collectionMethod: terms.collectionMethod,
      daysUntilDue: terms.daysUntilDue,
      poNumber: terms.poNumber,
      sourceEventId: stored.id,
      sourceEventType: stored.type,
      tax,
      timeZone,
    },
    metadata: { ...metadata, commandId: `${metadata.commandId}:draft` },
  });
  // Issued now, unless a number was reserved for it already (a finalization cut short): then when it was reserved,
  // so the invoice stays in the year its number belongs to.
  const reserved = await reservedNumber(ctx, stored.organizationId, invoiceId, await draftedAt(ctx, streamId), metadata.now);
  const issuedAt = reserved?.at ?? metadata.now;
  const number = reserved?.number ?? (await assignInvoiceNumber(ctx, metadata, invoiceId, issuedAt));
  await handleCommand(ctx.store, invoiceDecider, streamId, { type: 'FinalizeInvoice', data: { number }, metadata: { ...metadata, now: issuedAt } });
}

/** When the invoice was drawn up: the first event of its stream. */
async function draftedAt(ctx: ServiceContext, streamId: string): Promise<string> {
  for await (const e of ctx.store.readStream(streamId)) return e.occurredAt;
  throw new Error(`${streamId} has no draft`);
}
