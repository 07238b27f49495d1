import type { EventContract } from '../eventRegistry.ts';
import { instant, object, uuid, withOptional, type EventsOf, type SchemaType } from './common.ts';

export const aggregations = ['count', 'sum', 'max', 'unique_count', 'latest'] as const;
export type Aggregation = (typeof aggregations)[number];

const clientId = { type: 'string', minLength: 1, maxLength: 200 } as const;
const eventType = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9_.:/-]*$' } as const;
export const meterKey = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z][a-z0-9_]*$' } as const;
const property = { type: 'string', minLength: 1, maxLength: 100, pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$' } as const;

/**
 * One measured occurrence, as a client (or the platform itself) reports it; `id` is the client's, unique per
 * organization. `projectId` is null only for the platform's own organization-wide measurements (seats, invoices).
 */
export const usageItemSchema = object({ id: clientId, type: eventType, projectId: { anyOf: [uuid, { type: 'null' }] }, time: instant, data: { type: 'object' } });
export type UsageItem = SchemaType<typeof usageItemSchema>;

const meterSchema = object({
  key: meterKey,
  name: { type: 'string', minLength: 1, maxLength: 200 },
  eventType,
  aggregation: { enum: [...aggregations] },
  /** The property of `data` measured (sum, max, unique_count, latest); a dotted path reaches nested values. */
  valueProperty: { anyOf: [property, { type: 'null' }] },
  groupBy: { type: 'array', maxItems: 10, items: property },
});
export type MeterDefinition = SchemaType<typeof meterSchema>;

const nullableNumber = { type: ['number', 'null'] } as const;
const periodTotal = object({ meter: meterKey, aggregation: { enum: [...aggregations] }, total: nullableNumber, included: { type: ['integer', 'null'], minimum: 0 } });
export type PeriodTotal = SchemaType<typeof periodTotal>;

/** Rollup windows are hours, days and months of the organization's zone, carried with the events that fill them. */
const timeZone = { type: 'string', format: 'iana-time-zone' } as const;

/** Usage (streams: meters-<orgId>, usage-<orgId>, usagefix-<hash of org and client id>); types derived from the schemas. */
const usageEventSchemas = {
  'usage.meter.defined': meterSchema,
  /** A batch of accepted items, stored as one event; each item's id is claimed (`usage:<org>:<id>`) with it. */
  'usage.events.recorded': object({ items: { type: 'array', minItems: 1, maxItems: 1000, items: usageItemSchema }, timeZone }),
  /** A correction: the item as it counted before (`from`) and after (`to`, null when voided). */
  'usage.event.corrected': object({ eventId: clientId, from: usageItemSchema, to: { anyOf: [usageItemSchema, { type: 'null' }] }, timeZone }),
  /** Operator settings (stream usagesettings-<orgId>): how long after a subscription year ends its usage closes. */
  'usage.settings.set': object({ gracePeriodMinutes: { type: 'integer', minimum: 0, maximum: 10_080 } }),
  /**
   * A subscription year's usage, final (stream usageperiod-<orgId>): closed at the year's end plus the grace
   * period, with each meter's total and the plan's included amount; the invoice service bills overage from it.
   */
  /**
   * `planVersion`: the plan's price version the year was sold at (closes written before price versions lack it);
   * `contractVersion`: the negotiated contract's version that priced the year (or its last plan change), if one did;
   * `commitmentContractVersion`: the one that priced it at its sale or renewal, whose minimum annual commitment the
   * year owes (null: none; absent on closes of years sold before billing recorded it).
   * `counted`: what the totals count, for the evidence of each overage line: the usage appended up to log position
   * `through`, in the hours [fromHour, toHour) of the organization's zone (closes before it lack it).
   */
  'usage.period.closed': withOptional(object({ periodStart: instant, periodEnd: instant, planId: { type: 'string' }, totals: { type: 'array', items: periodTotal } }), { planVersion: { type: 'integer', minimum: 1 }, contractVersion: { type: 'integer', minimum: 1 }, commitmentContractVersion: { type: ['integer', 'null'], minimum: 1 }, counted: object({ through: { type: 'string', minLength: 1 }, fromHour: instant, toHour: instant }) }),
  /** Usage that reached a closed period after its close (a late event, a correction): never a silent change. */
  'usage.adjustment.recorded': withOptional(object({ periodStart: instant, periodEnd: instant, planId: { type: 'string' }, meter: meterKey, previousTotal: nullableNumber, total: nullableNumber, delta: { type: 'number' }, sourceEventId: uuid }), { planVersion: { type: 'integer', minimum: 1 }, contractVersion: { type: 'integer', minimum: 1 } }),
  /** A meter reached 80 % or 100 % of what the plan includes, once per subscription period (stream quota-<orgId>). */
  'usage.quota.threshold_reached': object({ meter: meterKey, threshold: { enum: [80, 100] }, periodStart: instant, periodEnd: instant, use: { type: 'number' }, included: { type: 'integer', minimum: 0 } }),
};

export type UsageEvent = EventsOf<typeof usageEventSchemas>;

/** The item type of the platform's own API request counts (built-in meter api_requests). */
export const API_REQUEST_ITEM_TYPE = 'curbmap.api.request';

/**
 * Version 2: an API request item counts `data.requests` requests (the platform tallies them per key, route,
 * status and second); a version 1 item stood for one request.
 */
const withRequestCounts = (item: UsageItem): UsageItem =>
  item.type === API_REQUEST_ITEM_TYPE && item.data['requests'] === undefined ? { ...item, data: { ...item.data, requests: 1 } } : item;
const upgrades: Partial<Record<string, Pick<EventContract, 'schemaVersion' | 'upcasters'>>> = {
  'usage.events.recorded': { schemaVersion: 2, upcasters: { 1: (data) => ({ ...(data as object), items: (data as { items: UsageItem[] }).items.map(withRequestCounts) }) } },
  'usage.event.corrected': {
    schemaVersion: 2,
    upcasters: { 1: (data) => { const d = data as { from: UsageItem; to: UsageItem | null }; return { ...d, from: withRequestCounts(d.from), to: d.to && withRequestCounts(d.to) }; } },
  },
};

export const usageContracts: EventContract[] = Object.entries(usageEventSchemas).map(([type, schema]) => ({ type, schema, schemaVersion: 1, ...upgrades[type] }));
