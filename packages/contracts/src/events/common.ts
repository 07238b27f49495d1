import type { JsonSchema } from '../eventRegistry.ts';

export const uuid = { type: 'string', format: 'uuid' } as const;
export const currency = { type: 'string', format: 'iso-4217', description: 'ISO 4217 code, upper case, e.g. USD' } as const;
export const timeZone = { type: 'string', format: 'iana-time-zone', description: 'IANA time zone, e.g. America/New_York' } as const;
export const instant = { type: 'string', format: 'date-time' } as const;
/** Money is always integer minor units with its currency. */
export const minorUnits = { type: 'integer', minimum: 0 } as const;

export function object(properties: Record<string, unknown>, required: string[] = Object.keys(properties)): JsonSchema {
  return { type: 'object', additionalProperties: false, properties, required };
}
