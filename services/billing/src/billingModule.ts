import { billingContracts } from '@curbmap/contracts';
import type { ServiceContext, ServiceModule } from '@curbmap/service-kit';
import type { PaymentProvider } from './adapters/payment/paymentProvider.ts';
import { startBillingProcesses } from './application/billingProcesses.ts';
import { startBillingScheduler, type BillingScheduler } from './application/billingScheduler.ts';
import { billingRoutes } from './http/billingRoutes.ts';
import type { PlanCatalog } from './plans/planCatalog.ts';
import { customersProjection, receivablesProjection, subscriptionsProjection } from './projections/billingProjections.ts';

export interface BillingModuleOptions {
  catalog: PlanCatalog;
  provider: PaymentProvider;
  /** How often renewals and overdue invoices are checked. */
  schedulerIntervalMs?: number;
}

export interface BillingModule extends ServiceModule {
  /** Set once started: lets tests and operators run a scheduler pass at a given instant. */
  scheduler: BillingScheduler | null;
}

export function createBillingModule(options: BillingModuleOptions): BillingModule {
  const module: BillingModule = {
    name: 'billing',
    contracts: billingContracts,
    projections: [customersProjection, subscriptionsProjection, receivablesProjection],
    scheduler: null,
    routes: (app, ctx: ServiceContext) => billingRoutes(app, { ctx, catalog: options.catalog, provider: options.provider }),
    async start(ctx) {
      const processes = startBillingProcesses(ctx);
      const scheduler = startBillingScheduler(ctx, options.schedulerIntervalMs ?? 60_000);
      module.scheduler = scheduler;
      return {
        async stop() {
          await scheduler.stop();
          await processes.stop();
        },
      };
    },
  };
  return module;
}
