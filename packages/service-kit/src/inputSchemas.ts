import { MAX_AMOUNT } from '@curbmap/contracts';

/** Request fields every service takes the same way (the gateway never coerces body types). */
export const inputSchemas = {
  /** Integer minor units, 1 to 10^12: never a float, never a string. */
  positiveAmount: { type: 'integer', minimum: 1, maximum: MAX_AMOUNT, description: 'Minor units of the currency (integer)' },
  /** ISO 4217, either case; handlers store it upper-case. */
  currency: { type: 'string', format: 'iso-4217', description: 'ISO 4217 code (format iso-4217: an active currency code, three letters, either case; stored upper-case)' },
  /** RFC 3339 instant JavaScript can represent, 1970 to 2199; no leap second. */
  instant: { type: 'string', format: 'date-time', description: 'RFC 3339 instant, e.g. 2026-12-01T10:00:00Z, from 1970-01-01T00:00:00Z up to (not including) 2200-01-01T00:00:00Z; no leap second' },
  reference: { type: 'string', minLength: 1, maxLength: 140 },
  /** An IANA time zone the platform knows (Intl), as the server checks it. */
  timeZone: { type: 'string', format: 'iana-time-zone', description: 'IANA time zone name the platform knows (format iana-time-zone: letters, digits, _+- and /, at most 64 characters, known to Intl), e.g. America/Chicago' },
  /** `/:id` where the id is a UUID. */
  idParams: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
} as const;

/** An RFC 3339 instant as the UTC ISO string we store. */
export const toUtc = (instant: string) => new Date(instant).toISOString();
