import type { ChargeLine } from '@curbmap/contracts';
import { deterministicUuid, handleCommand, type StoredEvent } from '@curbmap/eventsourcing';
import { reactionMetadata, type ServiceContext } from '@curbmap/service-kit';
import { invoiceDecider, invoiceStream } from '../domain/invoice/invoiceDecider.ts';
import type { BillingTermsView } from '../projections/invoiceProjections.ts';
import { assignInvoiceNumber, organizationZone } from './invoiceNumbers.ts';
import { taxSettingsOf } from './taxSettings.ts';

/**
 * Issues the invoice a cause asks for, once: its id derives from the causing event (`<cause>:<event id>`); it is
 * drafted with the organization's tax, then finalized with the organization's next number for the year and a due
 * date in the organization's zone.
 */
export async function issueInvoiceFor(
  ctx: ServiceContext,
  stored: StoredEvent,
  cause: { idPrefix: string; action: string },
  charge: { subscriptionId: string | null; currency: string; lines: ChargeLine[]; terms: Pick<BillingTermsView, 'collectionMethod' | 'daysUntilDue' | 'poNumber'> },
): Promise<void> {
  const invoiceId = deterministicUuid(`${cause.idPrefix}:${stored.id}`);
  const metadata = reactionMetadata(stored, cause.action);
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
  const number = await assignInvoiceNumber(ctx, metadata, invoiceId, metadata.now);
  await handleCommand(ctx.store, invoiceDecider, streamId, { type: 'FinalizeInvoice', data: { number }, metadata });
}
