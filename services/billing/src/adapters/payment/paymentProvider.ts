import type { CollectionMethod, PaymentProviderKind } from '@curbmap/contracts';
import type { Plan } from '@curbmap/contracts';

export interface ProviderCustomer {
  organizationId: string;
  name: string;
  billingEmail: string;
  currency: string;
}

/**
 * Where money is collected. `manual` (bank transfer against invoices, the embedded default) and `stripe`.
 * Calls that change something at the provider come from the provider outbox process, each with an
 * idempotency key derived from the id of the intent event it carries out, stable across retries and crashes.
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
  /** `now`: applied at once, prorated (increases, upgrades); `renewal`: scheduled for the period end (decreases, downgrades). */
  /** `cancelAtPeriodEnd`: our subscription ends at its period's end (a change never lifts that). */
  changeSubscription(input: { providerSubscriptionId: string | null; plan: Plan; currency: string; seats: number; effective: 'now' | 'renewal'; cancelAtPeriodEnd: boolean; idempotencyKey: string }): Promise<void>;
  cancelSubscription(input: { providerSubscriptionId: string | null; atPeriodEnd: boolean; idempotencyKey: string }): Promise<void>;
  reactivateSubscription(input: { providerSubscriptionId: string | null; idempotencyKey: string }): Promise<void>;
  /** A SetupIntent's client secret, for the browser to collect a card. */
  createSetupIntent(input: { customer: ProviderCustomer; idempotencyKey: string }): Promise<{ clientSecret: string; setupIntentId: string }>;
  refund(input: { providerPaymentId: string; amount: number; idempotencyKey: string }): Promise<{ refundId: string; status: string }>;
  /** What the customer's browser needs to confirm the first card payment (SCA), while one is awaited. */
  paymentConfirmation(input: { providerSubscriptionId: string }): Promise<{ clientSecret: string; type: string; invoiceId: string } | null>;
}

/**
 * A provider's answer that will not change on retry (a declined card, an invalid request): the outbox records
 * it as the request's outcome. Anything else (network, 5xx, rate limits) is retried, then parked.
 */
export class ProviderRefusal extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ProviderRefusal';
    this.code = code;
  }
}
