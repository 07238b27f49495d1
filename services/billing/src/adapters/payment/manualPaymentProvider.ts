import { IllegalStateError } from '@curbmap/eventsourcing';
import type { PaymentProvider } from './paymentProvider.ts';

/**
 * Manual collection: invoices are paid by bank transfer (often against a PO), recorded by the operator with
 * POST /v1/admin/invoices/{id}/payments. Nothing to call out to; card features are refused clearly.
 */
export class ManualPaymentProvider implements PaymentProvider {
  readonly kind = 'manual' as const;
  async startSubscription() {
    return { providerSubscriptionId: null };
  }
  async changeSubscription() {}
  async cancelSubscription() {}
  async reactivateSubscription() {}
  async createSetupIntent(): Promise<never> {
    throw new IllegalStateError('card payment methods need the Stripe provider (set STRIPE_SECRET_KEY); this platform collects by bank transfer');
  }
  async refund(): Promise<never> {
    throw new IllegalStateError('refunds of bank transfers are made by bank transfer; the Stripe provider refunds card payments');
  }
  async paymentConfirmation() {
    return null;
  }
}
