import { billingContracts, catalogContracts, contractContracts } from '@curbmap/contracts';
import type { ServiceContext, ServiceModule } from '@curbmap/service-kit';
import type { PaymentProvider } from './adapters/payment/paymentProvider.ts';
import { startBillingProcesses } from './application/billingProcesses.ts';
import { startBillingScheduler, type BillingScheduler } from './application/billingScheduler.ts';
import { billingRoutes } from './http/billingRoutes.ts';
import type { PlanCatalog } from '@curbmap/contracts';
import { billingPlansProjection } from './projections/planProjection.ts';
import { billingContractsProjection } from './projections/contractProjection.ts';
import { contractRoutes } from './http/contractRoutes.ts';
import { seedPlanCatalog } from './application/planCommands.ts';
import { adminPlanRoutes } from './http/adminPlanRoutes.ts';
import { billingTermsProjection, creditProjection, customersProjection, receivablesProjection, subscriptionsProjection } from './projections/billingProjections.ts';
import { stripeProjection } from './projections/stripeProjection.ts';
import { startStripeSyncProcess, type StripeLookup } from './application/stripeSyncProcess.ts';
import { startProviderOutbox } from './application/providerOutbox.ts';
import { startStripeReconciliation, type ListStripeEvents } from './application/stripeReconciliation.ts';
import type { EventSourcedCustomerLinks } from './application/customerLinks.ts';
import { stripeWebhookRoutes } from './http/stripeWebhookRoutes.ts';
import { adminBillingRoutes } from './http/adminBillingRoutes.ts';
import { adminMoneyRoutes } from './http/adminMoneyRoutes.ts';

export interface BillingModuleOptions {
  /** Seeds version 1 of each plan not yet in the log (the built-in catalogue, or CURBMAP_PLANS_FILE). */
  seedCatalog: PlanCatalog;
  provider: PaymentProvider;
  /** How often renewals and overdue invoices are checked. */
  schedulerIntervalMs?: number;
  /** CURBMAP_RENEWAL_NOTICE_DAYS: a `current_price` renewal moves to the version the last notice announced. */
  renewalNoticeDays?: readonly number[];
  /** STRIPE_WEBHOOK_SECRET: without it, POST /webhooks/stripe answers 503. */
  webhookSecret?: string | null;
  /** How often missed Stripe events are fetched (default hourly). */
  reconcileIntervalMs?: number;
  /** Stripe's event list, for reconciliation; absent without a Stripe key. */
  listStripeEvents?: ListStripeEvents | null;
  /** Reads from Stripe for the sync process (objects not known yet, invoice payments); absent without Stripe. */
  stripeLookup?: StripeLookup | null;
  /** Attached to the context at start (Stripe provider's customer links). */
  customerLinks?: EventSourcedCustomerLinks | null;
}

export interface BillingModule extends ServiceModule {
  /** Set once started: lets tests and operators run a scheduler pass at a given instant. */
  scheduler: BillingScheduler | null;
}

export function createBillingModule(options: BillingModuleOptions): BillingModule {
  const module: BillingModule = {
    name: 'billing',
    contracts: [...billingContracts, ...catalogContracts, ...contractContracts],
    projections: [billingPlansProjection, billingContractsProjection, customersProjection, subscriptionsProjection, receivablesProjection, creditProjection, billingTermsProjection, stripeProjection],
    scheduler: null,
    async routes(app, ctx: ServiceContext) {
      const deps = { ctx, provider: options.provider };
      await billingRoutes(app, deps);
      await adminMoneyRoutes(app, deps);
      await adminPlanRoutes(app, ctx);
      await contractRoutes(app, ctx, options.provider.kind);
      await stripeWebhookRoutes(app, ctx, options.webhookSecret ?? null);
      await adminBillingRoutes(app, ctx, () => module.scheduler, options.listStripeEvents ?? null);
    },
    async start(ctx) {
      options.customerLinks?.attach(ctx);
      // Before anything sells or charges: the catalogue's first versions, visible to this service's read models.
      await seedPlanCatalog(ctx, options.seedCatalog);
      const processes = startBillingProcesses(ctx);
      const outbox = startProviderOutbox(ctx, options.provider);
      const stripeSync = startStripeSyncProcess(ctx, options.stripeLookup ?? null);
      const scheduler = startBillingScheduler(ctx, options.schedulerIntervalMs ?? 60_000, options.renewalNoticeDays);
      const reconciliation = options.listStripeEvents ? startStripeReconciliation(ctx, options.listStripeEvents, options.reconcileIntervalMs ?? 3_600_000) : null;
      module.scheduler = scheduler;
      return {
        async stop() {
          await scheduler.stop();
          await reconciliation?.stop();
          await stripeSync.stop();
          await processes.stop();
          await outbox.stop();
        },
      };
    },
  };
  return module;
}
