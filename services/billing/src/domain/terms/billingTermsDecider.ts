import type { BillingEvent, BillingTerms, CollectionMethod, PaymentProviderKind } from '@curbmap/contracts';
import { ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** The payment terms the operator grants an organization: which collection methods, how many days to pay. */
export const billingTermsStream = (organizationId: string) => `billingterms-${organizationId}`;

export type BillingTermsEvent = Extract<BillingEvent, { type: 'billing.terms.set' }>;
export type SetBillingTerms = Command<'SetBillingTerms', BillingTerms & { provider: PaymentProviderKind }>;
export type BillingTermsState = { status: 'default' } | { status: 'set'; terms: BillingTerms };

/** Without terms set by the operator: card through Stripe where it is configured, else bank transfer at net 30. */
export function defaultBillingTerms(provider: PaymentProviderKind): BillingTerms {
  return { collectionMethods: [provider === 'stripe' ? 'charge_automatically' : 'send_invoice'], daysUntilDue: 30 };
}

/** Collection methods a provider can carry out: manual collection cannot charge a card. */
export function supportedMethods(provider: PaymentProviderKind): CollectionMethod[] {
  return provider === 'stripe' ? ['charge_automatically', 'send_invoice'] : ['send_invoice'];
}

export const billingTermsDecider: Decider<SetBillingTerms, BillingTermsEvent, BillingTermsState> = {
  initialState: () => ({ status: 'default' }),
  decide(command, state) {
    const { provider, ...terms } = command.data;
    const unsupported = terms.collectionMethods.filter((m) => !supportedMethods(provider).includes(m));
    if (unsupported.length > 0) throw new ValidationError(`this platform collects through ${provider === 'stripe' ? 'Stripe' : 'manual collection'}, which cannot carry out ${unsupported.join(', ')}`);
    if (state.status === 'set' && JSON.stringify(state.terms) === JSON.stringify(terms)) return [];
    return [{ type: 'billing.terms.set', data: { collectionMethods: [...terms.collectionMethods], daysUntilDue: terms.daysUntilDue } }];
  },
  evolve(_state, event) {
    return { status: 'set', terms: event.data };
  },
};
