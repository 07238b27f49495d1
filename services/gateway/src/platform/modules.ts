import { createBillingModule, ManualPaymentProvider, PlanCatalog, type BillingDeps, type BillingModule, type PaymentProvider } from '@curbmap/billing';
import { invoiceModule } from '@curbmap/invoice';
import type { ServiceModule } from '@curbmap/service-kit';
import { tenancyModule } from '../tenancyModule.ts';

export interface ModulesOptions {
  plansFile?: string | null;
  /** The payment provider; manual collection when none is given. */
  provider?: PaymentProvider;
  billingSchedulerIntervalMs?: number;
}

export interface PlatformModules {
  all: ServiceModule[];
  billing: BillingModule;
  /** What billing's application layer needs besides the context (demo seeding, tests). */
  billingDeps: Omit<BillingDeps, 'ctx'>;
}

/** Every service the embedded platform hosts, configured. */
export function createModules(options: ModulesOptions = {}): PlatformModules {
  const billingDeps = { catalog: PlanCatalog.load(options.plansFile ?? undefined), provider: options.provider ?? new ManualPaymentProvider() };
  const billing = createBillingModule({ ...billingDeps, ...(options.billingSchedulerIntervalMs ? { schedulerIntervalMs: options.billingSchedulerIntervalMs } : {}) });
  return { all: [tenancyModule, billing, invoiceModule], billing, billingDeps };
}
