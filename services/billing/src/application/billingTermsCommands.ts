import type { BillingTerms, PaymentProviderKind } from '@curbmap/contracts';
import type { CommandMetadata } from '@curbmap/eventsourcing';
import { runCommand, type ServiceContext } from '@curbmap/service-kit';
import { billingTermsDecider, billingTermsStream, defaultBillingTerms } from '../domain/terms/billingTermsDecider.ts';
import { billingCollections as C, type BillingTermsView } from '../projections/billingProjections.ts';

/** The organization's payment terms: what the operator set, or the defaults for this platform's provider. */
export async function billingTermsOf(ctx: ServiceContext, provider: PaymentProviderKind, organizationId: string): Promise<BillingTerms & { source: 'operator' | 'default' }> {
  const view = await ctx.readStore.get<BillingTermsView>(C.terms, organizationId);
  return view ? { collectionMethods: view.collectionMethods, daysUntilDue: view.daysUntilDue, source: 'operator' } : { ...defaultBillingTerms(provider), source: 'default' };
}

export function setBillingTerms(ctx: ServiceContext, provider: PaymentProviderKind, meta: CommandMetadata, terms: BillingTerms) {
  return runCommand(ctx, billingTermsDecider, billingTermsStream(meta.organizationId), { type: 'SetBillingTerms', data: { ...terms, provider }, metadata: meta });
}
