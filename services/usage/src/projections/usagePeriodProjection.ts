import type { BillingEvent, PeriodTotal, UsageEvent } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection } from '@curbmap/eventsourcing';

/** The organization's current subscription year and plan, as usage measures quotas against them. */
export interface UsagePeriodView extends Document {
  planId: string;
  /** The plan's price version the year was sold at (absent: sold before price versions). */
  planVersion?: number;
  /** The negotiated contract's version that priced the year (absent: none did). */
  contractVersion?: number;
  periodStart: string;
  periodEnd: string;
  active: boolean;
}

/** Every subscription year, until its usage is closed (then with its totals). */
export interface PeriodHistoryView extends Document {
  planId: string;
  planVersion?: number;
  contractVersion?: number;
  /**
   * The contract version that priced the year at its sale or renewal, kept through plan changes: its minimum annual
   * commitment is the year's (null: none; absent: sold before billing recorded it).
   */
  soldUnder?: number | null;
  periodStart: string;
  periodEnd: string;
  /** When the year's usage stops accruing: its end, or an earlier cancellation. */
  endsAt: string;
  closed: boolean;
  /** Once closed: each meter's total as billed (the close, then its adjustments). */
  totals: PeriodTotal[] | null;
  adjustments: { meter: string; previousTotal: number | null; total: number | null; delta: number; recordedAt: string }[];
}

export interface UsageSettingsView extends Document {
  gracePeriodMinutes: number;
}

export const usagePeriods = 'usage_periods';
export const usagePeriodHistory = 'usage_period_history';
export const usageSettings = 'usage_settings';
export const DEFAULT_GRACE_MINUTES = 60;

/** Subscription years learned from billing's events (usage never reads billing's tables), and their closing. */
export const usagePeriodProjection: Projection = {
  // v2: each year's contractVersion (rebuilt from the log, so a year billing recorded it on before usage knew it has it).
  name: 'usage.periods.v2',
  filter: { categories: ['subscription', 'usageperiod', 'usagesettings'] },
  collections: [usagePeriods, usagePeriodHistory, usageSettings],
  indexes: { [usagePeriodHistory]: ['closed', 'endsAt'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as BillingEvent | UsageEvent;
    const organizationId = stored.organizationId;
    const history = (periodStart: string) => `${organizationId}|${periodStart}`;
    switch (event.type) {
      case 'billing.subscription.activated':
      case 'billing.subscription.renewed': {
        const { planId, periodStart, periodEnd } = event.data;
        const sold = { ...(event.data.planVersion ? { planVersion: event.data.planVersion } : {}), ...(event.data.contractVersion ? { contractVersion: event.data.contractVersion } : {}) };
        await updateOnce<UsagePeriodView>(tx, usagePeriods, organizationId, stored, () => ({ id: organizationId, organizationId, planId, ...sold, periodStart, periodEnd, active: true }));
        const soldUnder = event.data.contractVersion !== undefined ? { soldUnder: event.data.contractVersion } : {};
        await updateOnce<PeriodHistoryView>(tx, usagePeriodHistory, history(periodStart), stored, (h) => h ?? { id: history(periodStart), organizationId, planId, ...sold, ...soldUnder, periodStart, periodEnd, endsAt: periodEnd, closed: false, totals: null, adjustments: [] });
        return;
      }
      case 'billing.subscription.plan_changed': {
        if (event.data.effective !== 'now') return;
        const current = await tx.get<UsagePeriodView>(usagePeriods, organizationId);
        if (!current) return;
        // The new plan's version for the rest of the year (absent on changes written before price versions), and the
        // contract version that priced the change (absent: none governs the new plan).
        const changed = <V extends { planId: string; planVersion?: number; contractVersion?: number }>(v: V): V => {
          const { planVersion: _previous, contractVersion: _contract, ...rest } = v;
          return { ...rest, planId: event.data.toPlanId, ...(event.data.planVersion ? { planVersion: event.data.planVersion } : {}), ...(event.data.contractVersion ? { contractVersion: event.data.contractVersion } : {}) } as V;
        };
        await updateOnce<UsagePeriodView>(tx, usagePeriods, organizationId, stored, (c) => (c ? changed(c) : null));
        await updateOnce<PeriodHistoryView>(tx, usagePeriodHistory, history(current.periodStart), stored, (h) => (h ? changed(h) : null));
        return;
      }
      case 'billing.subscription.canceled': {
        const current = await tx.get<UsagePeriodView>(usagePeriods, organizationId);
        if (!current) return;
        await updateOnce<UsagePeriodView>(tx, usagePeriods, organizationId, stored, (c) => (c ? { ...c, active: false } : null));
        const endsAt = event.data.canceledAt < current.periodEnd ? event.data.canceledAt : current.periodEnd;
        await updateOnce<PeriodHistoryView>(tx, usagePeriodHistory, history(current.periodStart), stored, (h) => (h ? { ...h, endsAt } : null));
        return;
      }
      case 'usage.period.closed':
        await updateOnce<PeriodHistoryView>(tx, usagePeriodHistory, history(event.data.periodStart), stored, (h) => (h ? { ...h, closed: true, totals: event.data.totals } : null));
        return;
      case 'usage.adjustment.recorded': {
        const d = event.data;
        await updateOnce<PeriodHistoryView>(tx, usagePeriodHistory, history(d.periodStart), stored, (h) =>
          h ? { ...h, totals: (h.totals ?? []).map((t) => (t.meter === d.meter ? { ...t, total: d.total } : t)), adjustments: [...h.adjustments, { meter: d.meter, previousTotal: d.previousTotal, total: d.total, delta: d.delta, recordedAt: stored.occurredAt }] } : null,
        );
        return;
      }
      case 'usage.settings.set':
        await updateOnce<UsageSettingsView>(tx, usageSettings, organizationId, stored, () => ({ id: organizationId, organizationId, gracePeriodMinutes: event.data.gracePeriodMinutes }));
        return;
      default:
        return;
    }
  },
};
