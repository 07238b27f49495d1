import { describe, expect, expectTypeOf, it } from 'vitest';
import { EventRegistry } from '../eventRegistry.ts';
import { billingContracts, type BillingEvent, type BillingTerms, type ChargeLine, type ChargeTerms, type PaymentData, type ProviderRequest, type StripeEventReceived, type SubscriptionTerms } from './billing.ts';

const registry = new EventRegistry().register(...billingContracts);
const old = (type: string, data: Record<string, unknown>) => registry.upcast({ type, schemaVersion: 1, data });

describe('billing events written by earlier versions', () => {
  it('read charges without terms as terms unknown (the invoice falls back to its subscription)', () => {
    for (const type of ['billing.subscription.renewed', 'billing.subscription.seats_changed', 'billing.subscription.plan_changed']) {
      expect(old(type, { subscriptionId: 's' })).toMatchObject({ schemaVersion: 2, data: { subscriptionId: 's', terms: null } });
    }
  });

  it('rank the Stripe status a provider_synced v1 recorded, and read Stripe refunds as reopening nothing', () => {
    expect(old('billing.subscription.provider_synced', { status: 'past_due' }).data).toMatchObject({ status: 'past_due', statusRank: 3 });
    expect(old('billing.subscription.provider_synced', { status: 'something_new' }).data).toMatchObject({ statusRank: 0 });
    expect(old('billing.payment.refunded', { refundedAmount: 5 }).data).toMatchObject({ refundedAmount: 5, reopenedAmount: 0 });
  });

  it('refuses currencies in lower case and amounts past 10^12 in events', () => {
    const credit = (data: Record<string, unknown>) => () => registry.validate({ type: 'billing.credit.granted', data: { amount: 1, currency: 'USD', sourcePaymentId: 'p', ...data } });
    expect(credit({})).not.toThrow();
    expect(credit({ currency: 'usd' })).toThrow(/currency/);
    expect(() => registry.validate({ type: 'billing.refund.requested', data: { paymentId: 'pi', requestId: '0f0e0d0c-0b0a-4908-8706-050403020100', amount: 1_000_000_000_001, currency: 'USD' } })).toThrow(/amount/);
  });
});

describe('billing event types, derived from their schemas', () => {
  it('say what the schemas say (checked by the type-checker)', () => {
    expectTypeOf<ChargeLine>().toEqualTypeOf<{ description: string; quantity: number; unitAmount: number; amount: number; periodStart: string; periodEnd: string; meter?: string }>();
    expectTypeOf<PaymentData['method']>().toEqualTypeOf<'bank_transfer' | 'card' | 'stripe' | 'credit_balance'>();
    expectTypeOf<PaymentData['invoiceId']>().toEqualTypeOf<string | null>();
    expectTypeOf<SubscriptionTerms['daysUntilDue']>().toEqualTypeOf<number | null>();
    expectTypeOf<SubscriptionTerms['provider']>().toEqualTypeOf<'manual' | 'stripe'>();
    expectTypeOf<Extract<BillingEvent, { type: 'billing.subscription.renewed' }>['data']['terms']>().toEqualTypeOf<ChargeTerms | null>();
    expectTypeOf<Extract<BillingEvent, { type: 'billing.customer.linked' }>['data']>().toEqualTypeOf<{ provider: 'stripe'; customerId: string }>();
    expectTypeOf<ProviderRequest['effects'][number]>().toEqualTypeOf<{ type: string; data: Record<string, unknown> }>();
    expectTypeOf<BillingTerms['collectionMethods']>().toEqualTypeOf<('charge_automatically' | 'send_invoice')[]>();
    expectTypeOf<StripeEventReceived['source']>().toEqualTypeOf<'webhook' | 'reconciliation'>();
    expect(billingContracts.map((c) => c.type)).toContain('billing.subscription.renewed');
  });
});
