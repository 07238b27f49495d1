import { setUpBilling, type BillingDeps, type BillingModule, type BillingSetupOptions, type StripePaymentProvider } from '@curbmap/billing';
import { artifactStoreIn, setUpExport, type ExportModule, type ExportSetupOptions } from '@curbmap/export';
import { setUpInvoice, type InvoiceModule, type InvoiceSetupOptions } from '@curbmap/invoice';
import { setUpUsage, type UsageModule, type UsageSetupOptions } from '@curbmap/usage';
import type { ServiceModule } from '@curbmap/service-kit';
import { tenancyModule } from '../tenancyModule.ts';

/** What configures the services; tests replace adapters (payment provider, webhook sender) and intervals. */
export type ModulesOptions = BillingSetupOptions & UsageSetupOptions & ExportSetupOptions & Omit<InvoiceSetupOptions, 'artifacts'>;

export interface PlatformModules {
  all: ServiceModule[];
  billing: BillingModule;
  /** What billing's application layer needs besides the context (demo seeding, tests). */
  billingDeps: Omit<BillingDeps, 'ctx'>;
  stripe: StripePaymentProvider | null;
  usage: UsageModule;
  export: ExportModule;
  invoice: InvoiceModule;
}

/** Every service the platform hosts, configured as each service's own process would configure itself. */
export function createModules(options: ModulesOptions): PlatformModules {
  const billing = setUpBilling(options);
  const usage = setUpUsage(options);
  // Exports and invoice PDFs share one artifact store (keys under exports/ and invoices/).
  const artifacts = options.artifacts ?? artifactStoreIn(options.dataDir);
  const exports = setUpExport({ ...options, artifacts });
  const invoice = setUpInvoice({ ...options, artifacts });
  return { all: [tenancyModule, billing.module, invoice, usage, exports], billing: billing.module, billingDeps: billing.deps, stripe: billing.stripe, usage, export: exports, invoice };
}
