import { meters, type PlanCatalog } from '@curbmap/contracts';
import { createUsageModule, type UsageModule } from './usageModule.ts';

export interface UsageSetupOptions {
  /** The plan catalogue billing sells from: what each plan includes. */
  catalog: PlanCatalog;
  usageCloseIntervalMs?: number;
  apiUsageFlushMs?: number;
}

/** The usage service, configured (embedded or in its own process). */
export function setUpUsage(options: UsageSetupOptions): UsageModule {
  return createUsageModule({
    includedUsage: (planId) => options.catalog.get(planId)?.includedUsage ?? null,
    pricedMeters: [...meters],
    ...(options.usageCloseIntervalMs ? { closeIntervalMs: options.usageCloseIntervalMs } : {}),
    ...(options.apiUsageFlushMs ? { apiUsageFlushMs: options.apiUsageFlushMs } : {}),
  });
}
