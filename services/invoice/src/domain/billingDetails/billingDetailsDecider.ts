import type { BillingDetailsSet } from '@curbmap/contracts';
import { ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** The organization's billing details (stream billingdetails-<orgId>), as its invoices show them. */
export const billingDetailsStream = (organizationId: string) => `billingdetails-${organizationId}`;

export type BillingDetails = BillingDetailsSet['data'];
export type SetBillingDetails = Command<'SetBillingDetails', BillingDetails>;
export type BillingDetailsState = { details: BillingDetails | null };

const regions = new Intl.DisplayNames(['en'], { type: 'region' });

/** Why the details cannot be used on an invoice, or null. */
export function invalidBillingDetails(d: BillingDetails): string | null {
  // DisplayNames answers an unknown code with the code itself.
  if (regions.of(d.country) === d.country) return `country ${d.country} is not an ISO 3166-1 alpha-2 code`;
  try {
    if (Intl.getCanonicalLocales(d.locale)[0] === undefined) return `locale ${d.locale} is not a BCP 47 language tag`;
  } catch {
    return `locale ${d.locale} is not a BCP 47 language tag`;
  }
  if (d.taxId !== null && !/^[A-Z0-9][A-Z0-9 .\-/]{1,39}$/i.test(d.taxId)) return 'taxId has characters a tax identifier does not';
  return null;
}

export const billingDetailsDecider: Decider<SetBillingDetails, BillingDetailsSet, BillingDetailsState> = {
  initialState: () => ({ details: null }),
  decide(command, state) {
    const why = invalidBillingDetails(command.data);
    if (why) throw new ValidationError(why);
    const details = { ...command.data, locale: Intl.getCanonicalLocales(command.data.locale)[0]!, taxId: command.data.taxId?.replace(/\s+/g, '').toUpperCase() ?? null };
    // The same details again change nothing.
    if (state.details && JSON.stringify(state.details) === JSON.stringify(details)) return [];
    return [{ type: 'invoice.billing_details.set', data: details }];
  },
  evolve(_state, event) {
    return { details: event.data };
  },
};
