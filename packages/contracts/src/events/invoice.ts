import type { EventContract } from '../eventRegistry.ts';
import type { ChargeLine, CollectionMethod } from './billing.ts';
import { currency, instant, minorUnits, object, uuid } from './common.ts';

export interface InvoiceFinalized {
  type: 'invoice.invoice.finalized';
  data: {
    invoiceId: string;
    number: string;
    subscriptionId: string | null;
    currency: string;
    lines: ChargeLine[];
    total: number;
    /** What the customer owes: the total, never below zero (credits carry over). */
    amountDue: number;
    collectionMethod: CollectionMethod;
    poNumber: string | null;
    issuedAt: string;
    dueAt: string | null;
    /** The billing event this invoice bills. */
    sourceEventId: string;
    sourceEventType: string;
  };
}
export type InvoiceEvent = InvoiceFinalized;

const line = object({ description: { type: 'string' }, quantity: { type: 'integer', minimum: 0 }, unitAmount: minorUnits, amount: { type: 'integer' }, periodStart: instant, periodEnd: instant });

export const invoiceContracts: EventContract[] = [
  {
    type: 'invoice.invoice.finalized',
    schemaVersion: 1,
    schema: object({
      invoiceId: uuid,
      number: { type: 'string', minLength: 1 },
      subscriptionId: { anyOf: [uuid, { type: 'null' }] },
      currency,
      lines: { type: 'array', items: line },
      total: { type: 'integer' },
      amountDue: minorUnits,
      collectionMethod: { enum: ['charge_automatically', 'send_invoice'] },
      poNumber: { type: ['string', 'null'] },
      issuedAt: instant,
      dueAt: { anyOf: [instant, { type: 'null' }] },
      sourceEventId: uuid,
      sourceEventType: { type: 'string' },
    }),
  },
];
