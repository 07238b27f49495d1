import { MAX_AMOUNT } from '@curbmap/contracts';

/** Request fields every service takes the same way (the gateway never coerces body types). */
export const inputSchemas = {
  /** Integer minor units, 1 to 10^12: never a float, never a string. */
  positiveAmount: { type: 'integer', minimum: 1, maximum: MAX_AMOUNT, description: 'Minor units of the currency (integer)' },
  /** ISO 4217, either case; handlers store it upper-case. */
  currency: { type: 'string', format: 'iso-4217', description: 'ISO 4217 code (either case; stored upper-case)' },
  /** RFC 3339 instant JavaScript can represent, 1970 to 2199; no leap second. */
  instant: { type: 'string', format: 'date-time', description: 'RFC 3339 instant, e.g. 2026-12-01T10:00:00Z' },
  reference: { type: 'string', minLength: 1, maxLength: 140 },
  /** `/:id` where the id is a UUID. */
  idParams: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
} as const;

/** An RFC 3339 instant as the UTC ISO string we store. */
export const toUtc = (instant: string) => new Date(instant).toISOString();
