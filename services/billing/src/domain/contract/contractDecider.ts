import { isCurrencyCode, type ContractTerms, type ContractVersion, type DomainEvent } from '@curbmap/contracts';
import { ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';
import { sameJson } from '../plan/planDecider.ts';

export type ContractSet = DomainEvent<'billing.contract.set', ContractVersion>;
/**
 * `planPrices`: the plan's seat prices at the effective date (null: no such plan); `currency`: the organization's;
 * `newTerm`: the term starts again at the effective date (else an amendment keeps the term's start).
 */
export type SetContract = Command<'SetContract', { contractId: string; terms: ContractTerms; planPrices: Record<string, number> | null; currency: string; newTerm: boolean }>;

/**
 * An organization's negotiated contract (stream contract-<orgId>): versions in order, each from its effective date,
 * never earlier than when it is set, so no year already sold or invoiced changes.
 */
const TERM_FIELDS = ['planId', 'termYears', 'seatPrice', 'escalatorBasisPoints', 'minimumAnnualCommitment', 'reference'] as const;
// A version set before contracts had usage terms has none: the same as {}.
const sameTerms = (a: Omit<ContractTerms, 'effectiveFrom'>, b: Omit<ContractTerms, 'effectiveFrom'>) => TERM_FIELDS.every((k) => sameJson(a[k], b[k])) && sameJson(a.meters ?? {}, b.meters ?? {});

export const contractDecider: Decider<SetContract, ContractSet, { versions: ContractVersion[] }> = {
  initialState: () => ({ versions: [] }),
  decide(command, state) {
    const { terms, contractId, planPrices, currency, newTerm } = command.data;
    if (Date.parse(terms.effectiveFrom) < Date.parse(command.metadata.now) - 60_000) throw new ValidationError(`effectiveFrom ${terms.effectiveFrom} is in the past: a contract applies from now on`);
    if (!planPrices) throw new ValidationError(`unknown plan ${terms.planId}; see GET /v1/plans`);
    const seat = terms.seatPrice;
    const overagePrices = Object.values(terms.meters ?? {}).flatMap((m) => Object.keys(m?.overage?.prices ?? {}));
    const currencies = [...Object.keys(terms.minimumAnnualCommitment ?? {}), ...(seat && 'amounts' in seat ? Object.keys(seat.amounts) : []), ...overagePrices];
    const unknown = currencies.filter((c) => !isCurrencyCode(c));
    if (unknown.length > 0) throw new ValidationError(`${unknown.join(', ')}: not ISO 4217 currencies`);
    // Terms that would never apply are refused, not kept silently: the organization is invoiced in one currency.
    const foreign = currencies.filter((c) => c !== currency);
    if (foreign.length > 0) throw new ValidationError(`the organization is invoiced in ${currency}, not ${[...new Set(foreign)].join(', ')}`);
    for (const [meter, m] of Object.entries(terms.meters ?? {})) {
      if (m?.overage && m.overage.prices[currency] === undefined) throw new ValidationError(`the overage price of ${meter} has no amount in ${currency}, the organization's currency`);
    }
    const listed = planPrices[currency];
    if (listed === undefined) throw new ValidationError(`plan ${terms.planId} is not sold in ${currency}`);
    if (seat?.kind === 'discount_percent' && seat.basisPoints >= 10_000) throw new ValidationError('a discount of 100 % or more makes the seats free: give a price instead');
    if (seat?.kind === 'discount_amount' && (seat.amounts[currency] ?? 0) >= listed) throw new ValidationError(`the discount is at least the plan's price (${listed} ${currency} minor units)`);
    // The last year's escalated price must stay an amount events can carry.
    let top = seat?.kind === 'price' ? (seat.amounts[currency] ?? listed) : listed;
    for (let k = 1; k < terms.termYears; k++) top += Math.round((top * terms.escalatorBasisPoints) / 10_000);
    if (top > 1_000_000_000_000) throw new ValidationError('the escalated seat price passes 10^12 minor units within the term');
    const previous = state.versions.at(-1);
    // The same terms again, already in effect (a PUT retried without its Idempotency-Key): nothing new.
    const { effectiveFrom: _e, ...asked } = terms;
    if (previous && !newTerm && Date.parse(previous.effectiveFrom) <= Date.parse(terms.effectiveFrom) && sameTerms(previous, asked)) return [];
    const termStart = newTerm || !previous ? terms.effectiveFrom : previous.termStart;
    return [{ type: 'billing.contract.set', data: { contractId, version: (previous?.version ?? 0) + 1, termStart, ...terms } }];
  },
  evolve(state, event) {
    return { versions: [...state.versions, event.data] };
  },
};
