import { readFileSync } from 'node:fs';
import { createAjv, type EventContract } from './eventRegistry.ts';

export const meters = ['api_requests', 'export_jobs', 'curb_zones'] as const;
export type Meter = (typeof meters)[number];

export interface Plan {
  id: string;
  name: string;
  description: string;
  interval: 'year';
  /** Orders plans: a higher tier is an upgrade. */
  tier: number;
  /** Price per seat per year in minor units, by ISO 4217 currency. */
  seatPrices: Record<string, number>;
  /** Usage included per year. */
  includedUsage: Record<Meter, number>;
  /** Beyond the included usage: `price` minor units per `unitSize` units. */
  overage: Record<Meter, { unitSize: number; prices: Record<string, number> }>;
  /** Stripe Price ids (yearly, per seat) by currency, when the Stripe provider is used. */
  stripePrices?: Record<string, string>;
}

/** Minor units by upper-case ISO 4217 code (what subscriptions are sold in). */
const money = { type: 'object', minProperties: 1, propertyNames: { format: 'iso-4217', pattern: '^[A-Z]{3}$' }, additionalProperties: { type: 'integer', minimum: 0 } };
const perMeter = (value: object) => ({ type: 'object', additionalProperties: false, required: [...meters], properties: Object.fromEntries(meters.map((m) => [m, value])) });

/** What a plan is and costs (a catalogue entry, and each price version of it without its id). */
export const planTermsProperties = {
  name: { type: 'string', minLength: 1, maxLength: 100 },
  description: { type: 'string', maxLength: 500 },
  interval: { const: 'year' },
  tier: { type: 'integer', minimum: 0 },
  seatPrices: money,
  includedUsage: perMeter({ type: 'integer', minimum: 0 }),
  overage: perMeter({ type: 'object', additionalProperties: false, required: ['unitSize', 'prices'], properties: { unitSize: { type: 'integer', minimum: 1 }, prices: money } }),
  stripePrices: { type: 'object', additionalProperties: { type: 'string', pattern: '^price_' } },
} as const;
export const planTermsRequired = ['name', 'description', 'interval', 'tier', 'seatPrices', 'includedUsage', 'overage'] as const;
export const planIdSchema = { type: 'string', pattern: '^[a-z][a-z0-9_-]{1,40}$' } as const;

const catalogSchema = {
  type: 'array',
  minItems: 1,
  items: { type: 'object', additionalProperties: false, required: ['id', ...planTermsRequired], properties: { id: planIdSchema, ...planTermsProperties } },
};

/** CurbMap's annual plans. JPY is zero-decimal: its minor unit is the yen. */
export const defaultPlans: Plan[] = [
  {
    id: 'starter',
    name: 'Starter',
    description: 'One city team mapping its first districts',
    interval: 'year',
    tier: 1,
    seatPrices: { USD: 120_000, EUR: 110_000, JPY: 180_000 },
    includedUsage: { api_requests: 1_000_000, export_jobs: 500, curb_zones: 5_000 },
    overage: {
      api_requests: { unitSize: 1000, prices: { USD: 50, EUR: 45, JPY: 75 } },
      export_jobs: { unitSize: 1, prices: { USD: 200, EUR: 180, JPY: 300 } },
      curb_zones: { unitSize: 100, prices: { USD: 1_000, EUR: 900, JPY: 1_500 } },
    },
  },
  {
    id: 'city',
    name: 'City',
    description: 'A whole city: every district, scheduled CDS exports',
    interval: 'year',
    tier: 2,
    seatPrices: { USD: 360_000, EUR: 330_000, JPY: 540_000 },
    includedUsage: { api_requests: 10_000_000, export_jobs: 10_000, curb_zones: 100_000 },
    overage: {
      api_requests: { unitSize: 1000, prices: { USD: 30, EUR: 27, JPY: 45 } },
      export_jobs: { unitSize: 1, prices: { USD: 100, EUR: 90, JPY: 150 } },
      curb_zones: { unitSize: 100, prices: { USD: 500, EUR: 450, JPY: 750 } },
    },
  },
  {
    id: 'enterprise',
    name: 'Enterprise',
    description: 'Regions and operators at scale',
    interval: 'year',
    tier: 3,
    seatPrices: { USD: 900_000, EUR: 830_000, JPY: 1_350_000 },
    includedUsage: { api_requests: 100_000_000, export_jobs: 100_000, curb_zones: 1_000_000 },
    overage: {
      api_requests: { unitSize: 1000, prices: { USD: 10, EUR: 9, JPY: 15 } },
      export_jobs: { unitSize: 1, prices: { USD: 50, EUR: 45, JPY: 75 } },
      curb_zones: { unitSize: 100, prices: { USD: 200, EUR: 180, JPY: 300 } },
    },
  },
];

export class PlanCatalog {
  readonly plans: readonly Plan[];
  constructor(plans: Plan[]) {
    const validate = createAjv().compile(catalogSchema);
    if (!validate(plans)) throw new Error(`invalid plan catalogue: ${(validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
    const ids = new Set<string>();
    for (const p of plans) {
      if (ids.has(p.id)) throw new Error(`invalid plan catalogue: plan ${p.id} appears twice`);
      ids.add(p.id);
    }
    this.plans = plans;
  }

  /** CURBMAP_PLANS_FILE (JSON array of plans) replaces the default catalogue; validated at start. */
  static load(path: string | undefined): PlanCatalog {
    return new PlanCatalog(path ? (JSON.parse(readFileSync(path, 'utf8')) as Plan[]) : defaultPlans);
  }

  get(id: string): Plan | undefined {
    return this.plans.find((p) => p.id === id);
  }
}

/**
 * The catalogue as the operator manages it: each plan a stream (plan-<planId>) of price versions, each version
 * the plan's whole terms from an instant on. The built-in catalogue (or CURBMAP_PLANS_FILE) seeds version 1 of
 * each plan at billing's first start. Facts of the platform, not of a customer: their organization is this id.
 */
export const PLATFORM_ORGANIZATION_ID = '00000000-0000-0000-0000-000000000000';
export const planStream = (planId: string) => `plan-${planId}`;

/** A plan's terms from `effectiveFrom` on, until the next version's. */
export interface PlanVersion extends Plan {
  version: number;
  effectiveFrom: string;
}

export const planVersionedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'version', 'effectiveFrom', ...planTermsRequired],
  properties: { id: planIdSchema, version: { type: 'integer', minimum: 1 }, effectiveFrom: { type: 'string', format: 'date-time' }, ...planTermsProperties },
} as const;

/**
 * What a renewal does with a subscription sold at an earlier version: `keep_price` (grandfathered: it renews at
 * the price it has, the default) or `current_price` (it renews at the version in effect at its last renewal notice: renewalPricedAt).
 */
export const renewalPolicies = ['keep_price', 'current_price'] as const;
export type RenewalPolicy = (typeof renewalPolicies)[number];
export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = 'keep_price';

/** Days before a renewal its notices go (CURBMAP_RENEWAL_NOTICE_DAYS), by default. */
export const DEFAULT_RENEWAL_NOTICE_DAYS: readonly number[] = [30, 7];

/**
 * The instant whose version a `current_price` renewal moves to: the last notice before it (its fewest days), so
 * every price a renewal charges was announced; a version effective later applies from the next renewal.
 */
export function renewalPricedAt(renewsAt: string, noticeDays: readonly number[] = DEFAULT_RENEWAL_NOTICE_DAYS): string {
  return new Date(Date.parse(renewsAt) - Math.min(...noticeDays) * 86_400_000).toISOString();
}

export const renewalPolicySetSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'renewalPolicy'],
  properties: { id: planIdSchema, renewalPolicy: { enum: [...renewalPolicies] } },
} as const;

export const catalogContracts: EventContract[] = [
  { type: 'billing.plan.versioned', schema: planVersionedSchema, schemaVersion: 1 },
  { type: 'billing.plan.renewal_policy_set', schema: renewalPolicySetSchema, schemaVersion: 1 },
];

/**
 * Billable units of a year's total: whole unit sizes over the included amount, rounded up. Invoice bills overage
 * by it and usage's evidence of each overage line derives the line's quantity by it.
 */
export const unitsOver = (total: number | null, included: number, unitSize: number) => (total === null || total <= included ? 0 : Math.ceil((total - included) / unitSize));

/** The version in effect at an instant: the latest whose effectiveFrom is not after it (versions take effect in order). */
export function planVersionAt(versions: readonly PlanVersion[], at: string): PlanVersion | undefined {
  const t = Date.parse(at);
  let found: PlanVersion | undefined;
  for (const v of versions) if (Date.parse(v.effectiveFrom) <= t && (!found || v.version > found.version)) found = v;
  return found;
}
