import { isCurrencyCode, type ContractTerms, type ContractVersion, type DomainEvent } from '@curbmap/contracts';
import { ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

export type ContractSet = DomainEvent<'billing.contract.set', ContractVersion>;
export type SetContract = Command<'SetContract', { contractId: string; terms: ContractTerms; planCurrencies: string[] | null }>;

/**
 * An organization's negotiated contract (stream contract-<orgId>): versions in order, each from its effective date,
 * never earlier than when it is set, so no year already sold or invoiced changes.
 */
export const contractDecider: Decider<SetContract, ContractSet, { versions: ContractVersion[] }> = {
  initialState: () => ({ versions: [] }),
  decide(command, state) {
    const { terms, contractId, planCurrencies } = command.data;
    if (Date.parse(terms.effectiveFrom) < Date.parse(command.metadata.now) - 60_000) throw new ValidationError(`effectiveFrom ${terms.effectiveFrom} is in the past: a contract applies from now on`);
    if (!planCurrencies) throw new ValidationError(`unknown plan ${terms.planId}; see GET /v1/plans`);
    const currencies = [...Object.keys(terms.minimumAnnualCommitment ?? {}), ...(terms.seatPrice && 'amounts' in terms.seatPrice ? Object.keys(terms.seatPrice.amounts) : [])];
    const unknown = currencies.filter((c) => !isCurrencyCode(c));
    if (unknown.length > 0) throw new ValidationError(`${unknown.join(', ')}: not ISO 4217 currencies`);
    const unsold = (terms.seatPrice && 'amounts' in terms.seatPrice ? Object.keys(terms.seatPrice.amounts) : []).filter((c) => !planCurrencies.includes(c));
    if (unsold.length > 0) throw new ValidationError(`plan ${terms.planId} is not sold in ${unsold.join(', ')}`);
    return [{ type: 'billing.contract.set', data: { contractId, version: (state.versions.at(-1)?.version ?? 0) + 1, ...terms } }];
  },
  evolve(state, event) {
    return { versions: [...state.versions, event.data] };
  },
};
