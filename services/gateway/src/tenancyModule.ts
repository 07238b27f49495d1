import { tenancyContracts } from '@curbmap/contracts';
import type { ServiceModule } from '@curbmap/service-kit';
import { tenancyRoutes } from './http/tenancyRoutes.ts';
import { tenancyProjection } from './projections/tenancyProjection.ts';

/** Organizations, projects and API keys: the gateway's own event-sourced slice. */
export const tenancyModule: ServiceModule = {
  name: 'tenancy',
  contracts: tenancyContracts,
  projections: [tenancyProjection],
  routes: tenancyRoutes,
};
