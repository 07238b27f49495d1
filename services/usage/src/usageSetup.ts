import { meters } from '@curbmap/contracts';
import { createUsageModule, type UsageModule } from './usageModule.ts';

export interface UsageSetupOptions {
  usageCloseIntervalMs?: number;
  apiUsageFlushMs?: number;
}

/** The usage service, configured (embedded or in its own process). */
export function setUpUsage(options: UsageSetupOptions): UsageModule {
  return createUsageModule({
    pricedMeters: [...meters],
    ...(options.usageCloseIntervalMs ? { closeIntervalMs: options.usageCloseIntervalMs } : {}),
    ...(options.apiUsageFlushMs ? { apiUsageFlushMs: options.apiUsageFlushMs } : {}),
  });
}
