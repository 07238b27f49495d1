/**
 * The plans a simulation runs with (written to CURBMAP_PLANS_FILE), in the four currencies the histories use:
 * USD and EUR (cents), JPY (no minor unit), KWD (three decimals). The model prices from these, never from the
 * platform's own catalogue.
 */
export const currencies = ['USD', 'EUR', 'JPY', 'KWD'] as const;
export type Currency = (typeof currencies)[number];

export interface SimPlan {
  id: string;
  tier: number;
  seatPrices: Record<Currency, number>;
  /** Completed exports a year includes; beyond them, `exportOverage` per started block of `unitSize`. */
  exportsIncluded: number;
}

/** The price of exports over what a plan includes: per started block of two, in each currency. */
export const exportOverage = { unitSize: 2, prices: { USD: 2_500, EUR: 2_301, JPY: 4_003, KWD: 7_777 } as Record<Currency, number> };

export const simPlans: SimPlan[] = [
  { id: 'basic', tier: 1, seatPrices: { USD: 120_000, EUR: 110_050, JPY: 180_001, KWD: 36_999 }, exportsIncluded: 1 },
  { id: 'pro', tier: 2, seatPrices: { USD: 360_033, EUR: 330_017, JPY: 540_007, KWD: 110_111 }, exportsIncluded: 2 },
];

export const simPlan = (id: string): SimPlan => simPlans.find((p) => p.id === id)!;

/** The plans file: the platform's catalogue format (required usage and overage per built-in meter). */
export function plansFile(): string {
  const money = (n: number) => Object.fromEntries(currencies.map((c) => [c, n]));
  return JSON.stringify(
    simPlans.map((p) => ({
      id: p.id,
      name: p.id === 'basic' ? 'Basic' : 'Pro',
      description: `Simulation plan ${p.id}`,
      interval: 'year',
      tier: p.tier,
      seatPrices: p.seatPrices,
      includedUsage: { api_requests: 10_000_000, export_jobs: p.exportsIncluded, curb_zones: 100_000 },
      overage: { api_requests: { unitSize: 1000, prices: money(50) }, export_jobs: exportOverage, curb_zones: { unitSize: 100, prices: money(100) } },
    })),
    null,
    2,
  );
}

/** Zones with awkward offsets and daylight saving (Santiago's changes at midnight, Chatham's +12:45/+13:45). */
export const zones = ['America/Santiago', 'Asia/Kolkata', 'Pacific/Chatham', 'Europe/Berlin', 'America/Chicago'] as const;
