import { usageContracts } from '@curbmap/contracts';
import type { ServiceModule } from '@curbmap/service-kit';
import { startQuotaAlerts, type IncludedUsage } from './application/usageQuotas.ts';
import { builtInMeterKeys } from './domain/meters/builtInMeters.ts';
import { usageRoutes } from './http/usageRoutes.ts';
import { usagePeriodProjection } from './projections/usagePeriodProjection.ts';
import { usageDirectoryProjection, usageRollupProjection } from './projections/usageProjections.ts';

export interface UsageModuleOptions {
  /** What each plan includes per meter (the plan catalogue). */
  includedUsage: IncludedUsage;
  /** The meters the plan catalogue names: each must exist (be built in). */
  pricedMeters: string[];
}

/** Metering: usage events in, exact rollups, summaries and quota alerts out. */
export function createUsageModule(options: UsageModuleOptions): ServiceModule {
  const unknown = options.pricedMeters.filter((m) => !builtInMeterKeys.has(m));
  if (unknown.length > 0) throw new Error(`the plan catalogue prices meters that do not exist: ${unknown.join(', ')}`);
  return {
    name: 'usage',
    contracts: usageContracts,
    projections: [usageDirectoryProjection, usageRollupProjection, usagePeriodProjection],
    routes: (app, ctx) => usageRoutes(app, ctx, options.includedUsage),
    start: async (ctx) => startQuotaAlerts(ctx, options.includedUsage),
  };
}
