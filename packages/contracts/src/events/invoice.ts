import type { EventContract } from '../eventRegistry.ts';
import { chargeLineSchema, collectionMethods } from './billing.ts';
import { currency, instant, minorUnits, object, uuid, withOptional, type EventsOf, type SchemaType } from './common.ts';

export const taxModes = ['exclusive', 'inclusive'] as const;
/** How an organization's invoices are taxed: a rate in basis points (2000 = 20 %), and the note an exemption or reverse charge needs. */
export const taxSettingsSchema = object({
  rateBasisPoints: { type: 'integer', minimum: 0, maximum: 10_000 },
  mode: { enum: [...taxModes] },
  note: { type: ['string', 'null'], maxLength: 300 },
});
/** The tax of an invoice: its settings and the amount (the sum of each line's tax, rounded half away from zero). */
const invoiceTax = object({ ...taxSettingsSchema.properties, amount: { type: 'integer' } });

/** What an invoice bills, fixed when it is drafted and kept as it is finalized. */
const invoiceContent = {
  invoiceId: uuid,
  subscriptionId: { anyOf: [uuid, { type: 'null' }] },
  currency,
  lines: { type: 'array', items: chargeLineSchema },
  /** The lines' amounts before tax (inclusive mode: the lines less their tax). */
  subtotal: { type: 'integer' },
  tax: invoiceTax,
  total: { type: 'integer' },
  collectionMethod: { enum: [...collectionMethods] },
  poNumber: { type: ['string', 'null'] },
  /** The billing event this invoice bills. */
  sourceEventId: uuid,
  sourceEventType: { type: 'string' },
} as const;

/** Invoices (stream invoice-<invoiceId>); types derived from the schemas. */
const invoiceEventSchemas = {
  'invoice.invoice.finalized': object({
    ...invoiceContent,
    number: { type: 'string', minLength: 1 },
    /** What the customer owes: the total, never below zero (credits carry over). */
    amountDue: minorUnits,
    issuedAt: instant,
    dueAt: { anyOf: [instant, { type: 'null' }] },
  }),
  /**
   * An invoice drawn up from its cause, before it has a number: lines and totals are fixed here; finalization
   * numbers it, dates it and makes it payable.
   */
  'invoice.invoice.drafted': object({
    ...invoiceContent,
    /** Payment terms, applied from the finalization date in the organization's zone. */
    daysUntilDue: { type: ['integer', 'null'] },
    timeZone: { type: 'string' },
  }),
  /** By the operator: an invoice issued in error, with nothing paid on it (a paid one is corrected by a credit note). */
  'invoice.invoice.voided': object({ invoiceId: uuid, reason: { type: 'string', minLength: 1, maxLength: 500 } }),
  /** By the operator: the customer will not pay it; dunning stops, a late payment still settles it. */
  'invoice.invoice.marked_uncollectible': object({ invoiceId: uuid, reason: { type: 'string', minLength: 1, maxLength: 500 } }),
  /** By the operator: part or all of an invoice credited, with its reason; numbered `<invoice number>-CN01`, `-CN02`… */
  'invoice.credit_note.issued': object({ creditNoteId: uuid, invoiceId: uuid, number: { type: 'string', minLength: 1 }, amount: { type: 'integer', minimum: 1 }, currency, reason: { type: 'string', minLength: 1, maxLength: 500 } }),
  /** An organization's invoice template and branding (stream invoicetemplate-<orgId>); `source` null: the default template. */
  'invoice.template.set': object({
    source: { type: ['string', 'null'], maxLength: 100_000 },
    // `logo` (optional: events written before it lack it): an uploaded image as a data: URL (the renderer fetches
    // nothing). `logoUrl`: earlier events' link, no longer shown.
    branding: withOptional(object({ logoUrl: { type: ['string', 'null'], maxLength: 2000 }, primaryColor: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$' }, footer: { type: ['string', 'null'], maxLength: 1000 } }), { logo: { type: ['string', 'null'], maxLength: 300_000 } }),
  }),
  /** The invoice's PDF, rendered once and kept: its checksum never changes. */
  'invoice.pdf.stored': object({ invoiceId: uuid, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, bytes: { type: 'integer', minimum: 1 } }),
  /**
   * Set by the platform operator (stream dunning-<orgId>): when an unpaid invoice's payment reminders go, in days
   * from its due date (-7: a week before; 0: on the day; 14: two weeks after), in the organization's time zone.
   * Empty: no reminders. Until set, DEFAULT_DUNNING_DAYS.
   */
  'invoice.dunning_schedule.set': object({ daysFromDue: { type: 'array', maxItems: 10, uniqueItems: true, items: { type: 'integer', minimum: -90, maximum: 365 } } }),
  /** Set by the platform operator (stream invoicetax-<orgId>): the tax the organization's invoices carry. */
  'invoice.tax_settings.set': taxSettingsSchema,
  /** What an invoice says of the customer (stream billingdetails-<orgId>): EU VAT Art. 226 needs name, address, tax ID. */
  'invoice.billing_details.set': object({
    legalName: { type: 'string', minLength: 1, maxLength: 200 },
    addressLines: { type: 'array', minItems: 1, maxItems: 4, items: { type: 'string', minLength: 1, maxLength: 120 } },
    country: { type: 'string', pattern: '^[A-Z]{2}$' },
    taxId: { type: ['string', 'null'], maxLength: 40 },
    locale: { type: 'string', minLength: 2, maxLength: 35 },
  }),
  /**
   * What a usage adjustment took off a closed year that no invoice could credit any more (its invoices credited
   * to their totals already, by the operator or earlier adjustments): reported to the operator (stream
   * usagecredit-<orgId>), never dropped silently. `amount`: net minor units of the overage not credited.
   */
  'invoice.adjustment.uncredited': object({ sourceEventId: { type: 'string', minLength: 1 }, meter: { type: 'string', minLength: 1 }, periodStart: instant, periodEnd: instant, amount: minorUnits, currency, reason: { type: 'string', minLength: 1, maxLength: 500 } }),
  /** A number handed out (stream invoicenumbers-<orgId>-<year>): sequences 1, 2, 3… with no gap. */
  'invoice.number.assigned': object({ invoiceId: uuid, sequence: { type: 'integer', minimum: 1 }, number: { type: 'string', pattern: '^CM-\\d{4}-\\d{6,}$' } }),
};

export type InvoiceEvent = EventsOf<typeof invoiceEventSchemas>;
export type InvoiceFinalized = Extract<InvoiceEvent, { type: 'invoice.invoice.finalized' }>;
export type BillingDetailsSet = Extract<InvoiceEvent, { type: 'invoice.billing_details.set' }>;
export type TaxSettings = SchemaType<typeof taxSettingsSchema>;

/** Version 1 invoices carried no tax: their subtotal is their total. */
const upgrades: Partial<Record<string, Pick<EventContract, 'schemaVersion' | 'upcasters'>>> = {
  'invoice.invoice.finalized': { schemaVersion: 2, upcasters: { 1: (data) => ({ ...(data as object), subtotal: (data as { total: number }).total, tax: { rateBasisPoints: 0, mode: 'exclusive', note: null, amount: 0 } }) } },
};

export const invoiceContracts: EventContract[] = Object.entries(invoiceEventSchemas).map(([type, schema]) => ({ type, schema, schemaVersion: 1, ...upgrades[type] }));

/** Where the usage behind an invoice's overage line is listed (line numbers from 1, in the invoice's order). */
export const usageEvidencePath = (invoiceId: string, line: number) => `/v1/invoices/${invoiceId}/lines/${line}/usage.csv`;
