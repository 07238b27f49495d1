import { DEFAULT_RENEWAL_POLICY, isCurrencyCode, type DomainEvent, type Plan, type PlanVersion, type RenewalPolicy } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** A seeded plan's first version takes effect from the start of time: whatever was sold before was sold at it. */
export const SEED_EFFECTIVE_FROM = '1970-01-01T00:00:00.000Z';

/** What a price version says: the plan's whole terms (its id aside). */
export type PlanTerms = Omit<Plan, 'id'>;

export type PlanVersioned = DomainEvent<'billing.plan.versioned', PlanVersion>;
export type RenewalPolicySet = DomainEvent<'billing.plan.renewal_policy_set', { id: string; renewalPolicy: RenewalPolicy }>;
export type PlanEvent = PlanVersioned | RenewalPolicySet;
export type SeedPlan = Command<'SeedPlan', { plan: Plan }>;
export type CreatePlan = Command<'CreatePlan', { plan: Plan; effectiveFrom: string }>;
export type AddPriceVersion = Command<'AddPriceVersion', { planId: string; terms: PlanTerms; effectiveFrom: string }>;
export type SetRenewalPolicy = Command<'SetRenewalPolicy', { planId: string; renewalPolicy: RenewalPolicy }>;
export type PlanCommand = SeedPlan | CreatePlan | AddPriceVersion | SetRenewalPolicy;

/** The same JSON value, objects' key order aside (terms sent again in another order are the same terms). */
export const sameJson = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
export const sameTerms = (a: PlanTerms, b: PlanTerms) => sameJson(a, b);
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, canonical(v)]));
  return value;
}
export const termsOf = ({ id: _id, version: _v, effectiveFrom: _e, ...terms }: PlanVersion): PlanTerms => terms;

/**
 * A plan of the catalogue (stream plan-<planId>): price versions in order, each taking effect at its instant,
 * never earlier than when it is made, so nothing already sold or invoiced changes.
 */
export const planDecider: Decider<PlanCommand, PlanEvent, { versions: PlanVersion[]; renewalPolicy: RenewalPolicy }> = {
  initialState: () => ({ versions: [], renewalPolicy: DEFAULT_RENEWAL_POLICY }),
  decide(command, state) {
    const latest = state.versions.at(-1);
    switch (command.type) {
      case 'SeedPlan': {
        if (latest) return [];
        return [{ type: 'billing.plan.versioned', data: { ...command.data.plan, version: 1, effectiveFrom: SEED_EFFECTIVE_FROM } }];
      }
      case 'CreatePlan': {
        if (latest) throw new IllegalStateError(`plan ${command.data.plan.id} exists: give it a new price version instead`);
        notBeforeNow(command.data.effectiveFrom, command.metadata.now);
        pricedInEveryCurrency(command.data.plan);
        return [{ type: 'billing.plan.versioned', data: { ...command.data.plan, version: 1, effectiveFrom: command.data.effectiveFrom } }];
      }
      case 'AddPriceVersion': {
        if (!latest) throw new NotFoundError('plan');
        notBeforeNow(command.data.effectiveFrom, command.metadata.now);
        if (Date.parse(command.data.effectiveFrom) <= Date.parse(latest.effectiveFrom)) {
          throw new ValidationError(`effectiveFrom must be after version ${latest.version}'s (${latest.effectiveFrom}): versions take effect in order`);
        }
        if (sameTerms(command.data.terms, termsOf(latest))) throw new ValidationError(`these are version ${latest.version}'s terms already`);
        pricedInEveryCurrency(command.data.terms);
        // A subscription sold in a currency renews and is billed overage in it: a version cannot drop one.
        const dropped = Object.keys(latest.seatPrices).filter((c) => command.data.terms.seatPrices[c] === undefined);
        if (dropped.length > 0) throw new ValidationError(`version ${latest.version} is sold in ${dropped.join(', ')}: a new version must price every currency the plan is sold in`);
        return [{ type: 'billing.plan.versioned', data: { ...command.data.terms, id: command.data.planId, version: latest.version + 1, effectiveFrom: command.data.effectiveFrom } }];
      }
      case 'SetRenewalPolicy': {
        if (!latest) throw new NotFoundError('plan');
        if (state.renewalPolicy === command.data.renewalPolicy) return [];
        return [{ type: 'billing.plan.renewal_policy_set', data: { id: command.data.planId, renewalPolicy: command.data.renewalPolicy } }];
      }
    }
  },
  evolve(state, event) {
    if (event.type === 'billing.plan.renewal_policy_set') return { ...state, renewalPolicy: event.data.renewalPolicy };
    return { ...state, versions: [...state.versions, event.data] };
  },
};

/** Every currency a plan sells seats in has an overage price for each meter: no overage goes unbilled. */
function pricedInEveryCurrency(terms: PlanTerms): void {
  const codes = [...Object.keys(terms.seatPrices), ...Object.values(terms.overage).flatMap((o) => Object.keys(o.prices))];
  const unknown = [...new Set(codes.filter((c) => !isCurrencyCode(c)))];
  if (unknown.length > 0) throw new ValidationError(`not ISO 4217 currencies: ${unknown.join(', ')}`);
  const missing = Object.entries(terms.overage).flatMap(([meter, o]) => Object.keys(terms.seatPrices).filter((c) => o.prices[c] === undefined).map((c) => `${meter} in ${c}`));
  if (missing.length > 0) throw new ValidationError(`overage has no price for ${missing.join(', ')}: each meter needs one in every currency the seats are sold in`);
}

function notBeforeNow(effectiveFrom: string, now: string): void {
  // Earlier would change what was already sold at the old terms.
  if (Date.parse(effectiveFrom) < Date.parse(now)) throw new ValidationError(`effectiveFrom ${effectiveFrom} is in the past: a price version takes effect now or later, so nothing already sold or invoiced changes`);
}
