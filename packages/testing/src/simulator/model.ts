import { DateTime } from 'luxon';
import { exportOverage, simPlan, type Currency } from './catalog.ts';

/**
 * What the platform must show, computed from the history alone by the documented rules (billing-integration.md,
 * invoicing.md), not by the services' code: subscription periods, the invoice of each charge (seats × price,
 * Stripe's two-line proration rounded half to even, exclusive tax per line rounded half away from zero), the
 * usage each organization sent, and each subscription year's close with its export overage (usage-metering.md).
 */

/** The grace period after a year's end before it closes (the platform's default). */
export const GRACE_MS = 60 * 60_000;

/** Half to even, for a non-negative BigInt ratio. */
function halfEven(numerator: bigint, denominator: bigint): bigint {
  const q = numerator / denominator;
  const r = numerator % denominator;
  if (r * 2n > denominator) return q + 1n;
  if (r * 2n < denominator) return q;
  return q % 2n === 0n ? q : q + 1n;
}

/** amount × part / whole, to the minor unit, half to even (signed). */
export function prorate(amount: number, part: number, whole: number): number {
  const sign = amount < 0 ? -1n : 1n;
  return Number(sign * halfEven(BigInt(Math.abs(amount)) * BigInt(part), BigInt(whole)));
}

/** A line's exclusive tax: amount × rate (basis points), half away from zero. */
export function lineTax(amount: number, rateBps: number): number {
  const n = BigInt(Math.abs(amount)) * BigInt(rateBps);
  const q = n / 10_000n;
  const rounded = (n % 10_000n) * 2n >= 10_000n ? q + 1n : q;
  return Number(amount < 0 ? -rounded : rounded);
}

/** The n-th subscription year from an anchor: local midnight of the subscription day, a year at a time. */
export function annualPeriod(anchorIso: string, zone: string, n: number): { start: string; end: string } {
  const anchor = DateTime.fromISO(anchorIso, { zone }).startOf('day');
  const at = (k: number) => anchor.plus({ years: k }).toUTC().toISO()!;
  return { start: at(n), end: at(n + 1) };
}

export interface ModelLine {
  amount: number;
  periodStart: string;
  periodEnd: string;
}

export interface ExpectedInvoice {
  /** What the charge is: its order among the organization's charges is the invoices' order. */
  reason: 'subscribe' | 'change' | 'renewal' | 'overage';
  at: string;
  /** Each line's amount and the period it covers. */
  lines: ModelLine[];
  subtotal: number;
  tax: number;
  total: number;
}

export interface ModelSubscription {
  planId: string;
  seats: number;
  anchor: string;
  year: number;
  periodStart: string;
  periodEnd: string;
  pendingSeats: number | null;
  pendingPlanId: string | null;
  cancelAtPeriodEnd: boolean;
  ended: boolean;
}

/** A subscription year as usage sees it: its plan is the one at its start, or the one a change made now. */
export interface ModelYear {
  start: string;
  end: string;
  planId: string;
  closed: boolean;
}

export class OrganizationModel {
  readonly invoices: ExpectedInvoice[] = [];
  subscription: ModelSubscription | null = null;
  /** Usage ids acknowledged (accepted or reported duplicate), and whether voided since. */
  readonly usage = new Map<string, { time: string; voided: boolean }>();
  /** Every subscription year, in order. */
  readonly years: ModelYear[] = [];
  /** The instants exports completed (the export_jobs meter). */
  readonly exports: string[] = [];

  readonly name: string;
  readonly currency: Currency;
  readonly zone: string;
  readonly taxBps: number;

  constructor(name: string, currency: Currency, zone: string, taxBps: number) {
    this.name = name;
    this.currency = currency;
    this.zone = zone;
    this.taxBps = taxBps;
  }

  private charge(reason: ExpectedInvoice['reason'], at: string, lines: ModelLine[]): void {
    const subtotal = lines.reduce((a, l) => a + l.amount, 0);
    const tax = lines.reduce((a, l) => a + lineTax(l.amount, this.taxBps), 0);
    this.invoices.push({ reason, at, lines, subtotal, tax, total: subtotal + tax });
  }

  private annual(planId: string, seats: number): number {
    return seats * simPlan(planId).seatPrices[this.currency];
  }

  canSubscribe(): boolean {
    return this.subscription === null || this.subscription.ended;
  }

  subscribe(planId: string, seats: number, at: string): void {
    const period = annualPeriod(at, this.zone, 0);
    this.subscription = { planId, seats, anchor: at, year: 0, periodStart: period.start, periodEnd: period.end, pendingSeats: null, pendingPlanId: null, cancelAtPeriodEnd: false, ended: false };
    this.years.push({ start: period.start, end: period.end, planId, closed: false });
    this.charge('subscribe', at, [{ amount: this.annual(planId, seats), periodStart: period.start, periodEnd: period.end }]);
  }

  /**
   * A change of seats or of plan, one at a time (billing-integration.md, "Changes"): more seats or a higher tier
   * now, on the current plan or seats, with a prorated two-line invoice (clearing a pending change of the same
   * kind); fewer seats or a lower tier at the renewal (asking for what is current undoes a pending one).
   */
  change(at: string, to: { seats?: number; planId?: string }): void {
    const s = this.subscription!;
    const whole = (Date.parse(s.periodEnd) - Date.parse(s.periodStart)) / 1000;
    const left = (Date.parse(s.periodEnd) - Date.parse(at)) / 1000;
    // Both lines cover what is left of the year, from the change.
    const rest = (amount: number) => ({ amount, periodStart: at, periodEnd: s.periodEnd });
    const prorated = (seats: number, planId: string) => this.charge('change', at, [rest(-prorate(this.annual(s.planId, s.seats), left, whole)), rest(prorate(this.annual(planId, seats), left, whole))]);
    if (to.seats !== undefined) {
      if (to.seats > s.seats) {
        prorated(to.seats, s.planId);
        s.seats = to.seats;
        s.pendingSeats = null;
      } else s.pendingSeats = to.seats === s.seats ? null : to.seats;
      return;
    }
    const planId = to.planId!;
    if (planId === (s.pendingPlanId ?? s.planId)) return;
    if (simPlan(planId).tier > simPlan(s.planId).tier) {
      prorated(s.seats, planId);
      s.planId = planId;
      s.pendingPlanId = null;
      this.years.at(-1)!.planId = planId;
    } else s.pendingPlanId = planId === s.planId ? null : planId;
  }

  /** The scheduler at `at`: every year that has ended renews (or ends, if canceled at its end). */
  renewUpTo(at: string): void {
    const s = this.subscription;
    while (s && !s.ended && Date.parse(s.periodEnd) <= Date.parse(at)) {
      if (s.cancelAtPeriodEnd) {
        s.ended = true;
        break;
      }
      s.year += 1;
      const period = annualPeriod(s.anchor, this.zone, s.year);
      s.periodStart = period.start;
      s.periodEnd = period.end;
      s.seats = s.pendingSeats ?? s.seats;
      s.planId = s.pendingPlanId ?? s.planId;
      s.pendingSeats = null;
      s.pendingPlanId = null;
      this.years.push({ start: period.start, end: period.end, planId: s.planId, closed: false });
      this.charge('renewal', period.start, [{ amount: this.annual(s.planId, s.seats), periodStart: period.start, periodEnd: period.end }]);
    }
  }

  /**
   * The closer at `at`: every year ended a grace period ago closes, and its exports over the plan's included
   * amount are invoiced, per started block of the unit size, with the organization's tax.
   */
  closeUpTo(at: string): void {
    for (const year of this.years) {
      if (year.closed || Date.parse(year.end) + GRACE_MS > Date.parse(at)) continue;
      year.closed = true;
      const over = this.exportCount(year.start, year.end) - simPlan(year.planId).exportsIncluded;
      if (over > 0) this.charge('overage', at, [{ amount: Math.ceil(over / exportOverage.unitSize) * exportOverage.prices[this.currency], periodStart: year.start, periodEnd: year.end }]);
    }
  }

  exportCount(from: string, to: string): number {
    return this.exports.filter((t) => t >= from && t < to).length;
  }

  /** Acknowledged usage not voided, with its time in [from, to). */
  usageCount(from: string, to: string): number {
    let n = 0;
    for (const u of this.usage.values()) if (!u.voided && u.time >= from && u.time < to) n += 1;
    return n;
  }
}
