import type { ChargeLine } from '@curbmap/contracts';
import { deterministicUuid, handleCommand, type StoredEvent } from '@curbmap/eventsourcing';
import { reactionMetadata, type ServiceContext } from '@curbmap/service-kit';
import { invoiceDecider, invoiceStream } from '../domain/invoice/invoiceDecider.ts';
import type { BillingTermsView } from '../projections/invoiceProjections.ts';
import { assignInvoiceNumber, organizationZone } from './invoiceNumbers.ts';
import { taxSettingsOf } from './taxSettings.ts';

/**
 * Issues the invoice a cause asks for, once: its id derives from the causing event (`<cause>:<event id>`), its
 * number is the organization's next for the year, its tax the organization's, its due date in the organization's zone.
 */
export async function issueInvoiceFor(
  ctx: ServiceContext,
  stored: StoredEvent,
  cause: { idPrefix: string; action: string },
  charge: { subscriptionId: string | null; currency: string; lines: ChargeLine[]; terms: Pick<BillingTermsView, 'collectionMethod' | 'daysUntilDue' | 'poNumber'> },
): Promise<void> {
  const invoiceId = deterministicUuid(`${cause.idPrefix}:${stored.id}`);
  const metadata = reactionMetadata(stored, cause.action);
  const number = await assignInvoiceNumber(ctx, metadata, invoiceId, metadata.now);
  const tax = await taxSettingsOf(ctx, stored.organizationId);
  const timeZone = await organizationZone(ctx, stored.organizationId);
  const { terms } = charge;
  await handleCommand(ctx.store, invoiceDecider, invoiceStream(invoiceId), {
    type: 'IssueInvoice',
    data: {
      invoiceId,
      number,
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
    metadata,
  });
}
