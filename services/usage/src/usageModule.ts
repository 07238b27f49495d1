import { usageContracts } from '@curbmap/contracts';
import type { ServiceModule } from '@curbmap/service-kit';
import { usageRoutes } from './http/usageRoutes.ts';
import { usageDirectoryProjection, usageRollupProjection } from './projections/usageProjections.ts';

/** Metering: usage events in, exact rollups out. */
export const usageModule: ServiceModule = {
  name: 'usage',
  contracts: usageContracts,
  projections: [usageDirectoryProjection, usageRollupProjection],
  routes: usageRoutes,
};
