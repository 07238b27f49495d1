import type { JsonSchema } from '../eventRegistry.ts';

export const uuid = { type: 'string', format: 'uuid' } as const;
export const currency = { type: 'string', format: 'iso-4217', pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, upper case, e.g. USD' } as const;
export const timeZone = { type: 'string', format: 'iana-time-zone', description: 'IANA time zone, e.g. America/New_York' } as const;
export const instant = { type: 'string', format: 'date-time' } as const;
/** The largest amount we take: 10^12 minor units (safe integers only, far from 2^53). */
export const MAX_AMOUNT = 1_000_000_000_000;
/** Money is always integer minor units with its currency. */
export const minorUnits = { type: 'integer', minimum: 0, maximum: MAX_AMOUNT } as const;

export function object(properties: Record<string, unknown>, required: string[] = Object.keys(properties)): JsonSchema {
  return { type: 'object', additionalProperties: false, properties, required };
}
