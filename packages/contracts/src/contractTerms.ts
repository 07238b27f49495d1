import { DateTime } from 'luxon';
import type { EventContract } from './eventRegistry.ts';
import { meters, planIdSchema, type Meter } from './catalog.ts';
import { instant, uuid } from './events/common.ts';

/**
 * Negotiated contracts (stream contract-<orgId>, set by the operator): a city's own seat price on a plan, raised by
 * an escalator at each renewal over a term of years, and a minimum annual commitment trued up at each year's end.
 * Each `billing.contract.set` is a version; the one in effect at a subscription year's start governs that year, so a
 * change applies from its effective date and earlier years (and their invoices) stay as they were.
 */
const money = { type: 'object', minProperties: 1, propertyNames: { pattern: '^[A-Z]{3}$' }, additionalProperties: { type: 'integer', minimum: 0, maximum: 1_000_000_000_000 } } as const;
export const seatPriceSchema = {
  oneOf: [
    { type: 'object', additionalProperties: false, required: ['kind', 'amounts'], properties: { kind: { const: 'price' }, amounts: money } },
    { type: 'object', additionalProperties: false, required: ['kind', 'basisPoints'], properties: { kind: { const: 'discount_percent' }, basisPoints: { type: 'integer', minimum: 1, maximum: 10_000 } } },
    { type: 'object', additionalProperties: false, required: ['kind', 'amounts'], properties: { kind: { const: 'discount_amount' }, amounts: money } },
    { type: 'null' },
  ],
} as const;
/** A meter's negotiated usage terms: its own included amount per year, its own overage price, or both. */
const meterTermsSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    includedUsage: { type: 'integer', minimum: 0, maximum: 1_000_000_000_000_000 },
    overage: { type: 'object', additionalProperties: false, required: ['unitSize', 'prices'], properties: { unitSize: { type: 'integer', minimum: 1, maximum: 1_000_000_000 }, prices: money } },
  },
} as const;
export const contractMetersSchema = { type: 'object', additionalProperties: false, properties: Object.fromEntries(meters.map((m) => [m, meterTermsSchema])) } as const;
export const contractTermsProperties = {
  planId: planIdSchema,
  effectiveFrom: instant,
  termYears: { type: 'integer', minimum: 1, maximum: 10 },
  seatPrice: seatPriceSchema,
  /** Added to the seat price at each renewal within the term, compounded: 300 = +3 %. */
  escalatorBasisPoints: { type: 'integer', minimum: 0, maximum: 10_000 },
  /** Per year, in the subscription's currency: the shortfall is invoiced once at the year's end. */
  minimumAnnualCommitment: { anyOf: [money, { type: 'null' }] },
  reference: { type: ['string', 'null'], maxLength: 200 },
  /** Per meter, where set: the year's included usage and the overage price, over the plan's (not escalated). */
  meters: contractMetersSchema,
} as const;
export const contractTermsRequired = ['planId', 'effectiveFrom', 'termYears', 'seatPrice', 'escalatorBasisPoints', 'minimumAnnualCommitment', 'reference'] as const;

export type SeatPrice = { kind: 'price'; amounts: Record<string, number> } | { kind: 'discount_percent'; basisPoints: number } | { kind: 'discount_amount'; amounts: Record<string, number> } | null;
export interface ContractMeterTerms {
  includedUsage?: number;
  overage?: { unitSize: number; prices: Record<string, number> };
}
export interface ContractTerms {
  planId: string;
  effectiveFrom: string;
  termYears: number;
  seatPrice: SeatPrice;
  escalatorBasisPoints: number;
  minimumAnnualCommitment: Record<string, number> | null;
  reference: string | null;
  /** Absent on versions set before contracts had usage terms: none. */
  meters?: Partial<Record<Meter, ContractMeterTerms>>;
}
/**
 * A version of an organization's contract: its terms, its number (1, 2, …) and when its term started. An amendment
 * keeps the term's start (its years and escalations go on); a new term starts at its own effective date.
 */
export interface ContractVersion extends ContractTerms {
  contractId: string;
  version: number;
  termStart: string;
}

export const contractStream = (organizationId: string) => `contract-${organizationId}`;

const contractSetSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['contractId', 'version', 'termStart', ...contractTermsRequired],
  properties: { contractId: uuid, version: { type: 'integer', minimum: 1 }, termStart: instant, ...contractTermsProperties },
} as const;
export const contractContracts: EventContract[] = [{ type: 'billing.contract.set', schema: contractSetSchema, schemaVersion: 1 }];

/**
 * The version in effect at an instant: the latest effective by then (a later version of the same date wins). A
 * year is governed by the version in effect when it was priced: its sale, or its renewal (the year's start).
 */
export function contractAt(versions: readonly ContractVersion[], at: string): ContractVersion | undefined {
  const t = Date.parse(at);
  let found: ContractVersion | undefined;
  for (const v of versions) if (Date.parse(v.effectiveFrom) <= t && (!found || Date.parse(v.effectiveFrom) > Date.parse(found.effectiveFrom) || (v.effectiveFrom === found.effectiveFrom && v.version > found.version))) found = v;
  return found;
}

/**
 * Which year of the contract's term a subscription year starting at `periodStart` is (0 = the first): the
 * anniversaries of the term's start reached by then, by calendar date in the organization's zone (a term started
 * on 29 February has its anniversaries on 28 February in common years, as the subscription's renewals do). Null:
 * outside its term.
 */
export function contractYear(contract: Pick<ContractVersion, 'termStart' | 'termYears'>, periodStart: string, timeZone: string): number | null {
  const start = DateTime.fromISO(contract.termStart, { zone: timeZone }).startOf('day');
  const at = DateTime.fromISO(periodStart, { zone: timeZone }).toISODate()!;
  if (at < start.toISODate()!) return null;
  let years = 0;
  while (years < contract.termYears && start.plus({ years: years + 1 }).toISODate()! <= at) years++;
  return years < contract.termYears ? years : null;
}

/** a × b ÷ 10,000 rounded half away from zero, exactly. */
const basisPoints = (a: number, bp: number) => {
  const n = BigInt(Math.abs(a)) * BigInt(bp);
  return Math.sign(a) * Number((n + 5_000n) / 10_000n);
};

/**
 * The seat price a contract sets for a subscription year of its plan, in a currency, given the plan's price then:
 * its own price or the plan's less a discount, raised by the escalator once per renewal within the term (each
 * raise rounded to the minor unit, half away from zero). Null where it sets none (another plan, outside its
 * term, no seat terms, or no price in that currency).
 */
export function contractSeatPrice(contract: ContractVersion, planId: string, currency: string, planUnitAmount: number, periodStart: string, timeZone: string): number | null {
  if (contract.planId !== planId || !contract.seatPrice) return null;
  const year = contractYear(contract, periodStart, timeZone);
  if (year === null) return null;
  const terms = contract.seatPrice;
  let price: number;
  if (terms.kind === 'discount_percent') price = planUnitAmount - basisPoints(planUnitAmount, terms.basisPoints);
  else {
    const amount = terms.amounts[currency];
    if (amount === undefined) return null;
    price = terms.kind === 'price' ? amount : Math.max(0, planUnitAmount - amount);
  }
  for (let k = 0; k < year; k++) price += basisPoints(price, contract.escalatorBasisPoints);
  return price;
}

/**
 * A year's usage terms of a meter: the plan's included amount and overage price, each replaced where the contract
 * version that priced the year (its recorded `contractVersion`) sets one for the year's plan. The contract's are
 * not escalated: an escalator raises seat prices.
 */
export function meterTermsOfYear<P extends { includedUsage: Partial<Record<string, number>>; overage: Partial<Record<string, { unitSize: number; prices: Record<string, number> }>> }>(
  plan: P | undefined,
  contract: Pick<ContractVersion, 'planId' | 'meters'> | undefined,
  planId: string,
): { includedUsage: Record<string, number>; overage: Record<string, { unitSize: number; prices: Record<string, number> }> } {
  const includedUsage: Record<string, number> = {};
  const overage: Record<string, { unitSize: number; prices: Record<string, number> }> = {};
  for (const [m, v] of Object.entries(plan?.includedUsage ?? {})) if (v !== undefined) includedUsage[m] = v;
  for (const [m, v] of Object.entries(plan?.overage ?? {})) if (v !== undefined) overage[m] = v;
  if (contract && contract.planId === planId) {
    for (const [m, terms] of Object.entries(contract.meters ?? {})) {
      if (terms?.includedUsage !== undefined) includedUsage[m] = terms.includedUsage;
      if (terms?.overage) overage[m] = terms.overage;
    }
  }
  return { includedUsage, overage };
}

/** The minimum a subscription year starting at `periodStart` commits to in a currency, or null. */
export function annualCommitment(contract: ContractVersion | undefined, currency: string, periodStart: string, timeZone: string): number | null {
  if (!contract?.minimumAnnualCommitment || contractYear(contract, periodStart, timeZone) === null) return null;
  return contract.minimumAnnualCommitment[currency] ?? null;
}
