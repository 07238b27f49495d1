// The usage service in its own process (distributed mode): node services/usage/dist/main.js
import { PlanCatalog } from '@curbmap/contracts';
import { runServiceMain } from '@curbmap/service-kit';
import { setUpUsage } from './usageSetup.ts';

await runServiceMain((config) => setUpUsage({ catalog: PlanCatalog.load(config.plansFile ?? undefined), usageCloseIntervalMs: config.usageCloseIntervalMs }));
