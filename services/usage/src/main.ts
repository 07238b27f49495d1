// The usage service in its own process (distributed mode): node services/usage/dist/main.js
import { meters, PlanCatalog } from '@curbmap/billing';
import { runServiceMain } from '@curbmap/service-kit';
import { createUsageModule } from './usageModule.ts';

await runServiceMain(() => {
  // The plan catalogue says what each plan includes: the same file the billing service sells from.
  const catalog = PlanCatalog.load(process.env['CURBMAP_PLANS_FILE'] ?? undefined);
  return createUsageModule({ includedUsage: (planId) => catalog.get(planId)?.includedUsage ?? null, pricedMeters: [...meters] });
});
