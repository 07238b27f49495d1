// The usage service in its own process (distributed mode): node services/usage/dist/main.js
import { runServiceMain } from '@curbmap/service-kit';
import { setUpUsage } from './usageSetup.ts';

await runServiceMain((config) => setUpUsage({ usageCloseIntervalMs: config.usageCloseIntervalMs }));
