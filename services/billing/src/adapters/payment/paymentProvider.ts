import type { CollectionMethod, PaymentProviderKind } from '@curbmap/contracts';
import type { Plan } from '../../plans/planCatalog.ts';

export interface ProviderCustomer {
  organizationId: string;
  name: string;
  billingEmail: string;
  currency: string;
}

/**
 * Where money is collected. `manual` (bank transfer against invoices, the embedded default) and `stripe`.
 * Every call carries an idempotency key derived from the command id, stable across retries.
 */
export interface PaymentProvider {
  readonly kind: PaymentProviderKind;
  startSubscription(input: {
    customer: ProviderCustomer;
    plan: Plan;
    seats: number;
    collectionMethod: CollectionMethod;
    daysUntilDue: number | null;
    poNumber: string | null;
    subscriptionId: string;
    idempotencyKey: string;
  }): Promise<{ providerSubscriptionId: string | null }>;
  changeSubscription(input: { providerSubscriptionId: string | null; plan: Plan; currency: string; seats: number; prorateNow: boolean; idempotencyKey: string }): Promise<void>;
  cancelSubscription(input: { providerSubscriptionId: string | null; atPeriodEnd: boolean; idempotencyKey: string }): Promise<void>;
  reactivateSubscription(input: { providerSubscriptionId: string | null; idempotencyKey: string }): Promise<void>;
  /** A SetupIntent's client secret, for the browser to collect a card. */
  createSetupIntent(input: { customer: ProviderCustomer; idempotencyKey: string }): Promise<{ clientSecret: string; setupIntentId: string }>;
  refund(input: { providerPaymentId: string; amount: number; idempotencyKey: string }): Promise<{ refundId: string; status: string }>;
}
