import type { EventContract } from '../eventRegistry.ts';
import { chargeLineSchema, collectionMethods, type ChargeLine, type CollectionMethod } from './billing.ts';
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

export const invoiceContracts: EventContract[] = [
  {
    type: 'invoice.invoice.finalized',
    schemaVersion: 1,
    schema: object({
      invoiceId: uuid,
      number: { type: 'string', minLength: 1 },
      subscriptionId: { anyOf: [uuid, { type: 'null' }] },
      currency,
      lines: { type: 'array', items: chargeLineSchema },
      total: { type: 'integer' },
      amountDue: minorUnits,
      collectionMethod: { enum: [...collectionMethods] },
      poNumber: { type: ['string', 'null'] },
      issuedAt: instant,
      dueAt: { anyOf: [instant, { type: 'null' }] },
      sourceEventId: uuid,
      sourceEventType: { type: 'string' },
    }),
  },
];
