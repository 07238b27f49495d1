import { createBillingModule, type BillingModule } from './billingModule.ts';
import type { BillingDeps } from './application/subscriptionCommands.ts';
import { ManualPaymentProvider } from './adapters/payment/manualPaymentProvider.ts';
import type { PaymentProvider } from './adapters/payment/paymentProvider.ts';
import { StripePaymentProvider } from './adapters/stripe/stripePaymentProvider.ts';
import { EventSourcedCustomerLinks } from './application/customerLinks.ts';
import { PlanCatalog } from '@curbmap/contracts';

export interface BillingSetupOptions {
  plansFile?: string | null;
  billingSchedulerIntervalMs?: number;
  /** CURBMAP_RENEWAL_NOTICE_DAYS (default 30 and 7). */
  renewalNoticeDays?: readonly number[];
  /** STRIPE_SECRET_KEY (+ STRIPE_API_BASE): payments through Stripe; manual collection otherwise. */
  stripe?: { secretKey: string; apiBase?: string | null; maxNetworkRetries?: number } | null;
  /** STRIPE_WEBHOOK_SECRET. */
  stripeWebhookSecret?: string | null;
  /** Replaces the provider chosen from the options (tests). */
  provider?: PaymentProvider;
  /** Wraps the chosen provider (tests: a crash right after a provider call). */
  wrapProvider?: (provider: PaymentProvider) => PaymentProvider;
}

export interface BillingSetup {
  module: BillingModule;
  /** What billing's application layer needs besides the context (demo seeding, tests). */
  deps: Omit<BillingDeps, 'ctx'>;
  stripe: StripePaymentProvider | null;
}

/** The billing service, configured: the one place the payment provider is chosen (embedded or in its own process). */
export function setUpBilling(options: BillingSetupOptions): BillingSetup {
  const customerLinks = new EventSourcedCustomerLinks();
  const stripe = options.stripe ? new StripePaymentProvider(options.stripe, customerLinks) : null;
  const chosen = options.provider ?? stripe ?? new ManualPaymentProvider();
  const deps = { provider: options.wrapProvider ? options.wrapProvider(chosen) : chosen };
  const module = createBillingModule({
    ...deps,
    seedCatalog: PlanCatalog.load(options.plansFile ?? undefined),
    ...(options.billingSchedulerIntervalMs ? { schedulerIntervalMs: options.billingSchedulerIntervalMs } : {}),
    ...(options.renewalNoticeDays ? { renewalNoticeDays: options.renewalNoticeDays } : {}),
    webhookSecret: options.stripeWebhookSecret ?? null,
    listStripeEvents: stripe ? (since) => stripe.listEvents(since) : null,
    stripeLookup: stripe,
    customerLinks,
  });
  return { module, deps, stripe };
}
