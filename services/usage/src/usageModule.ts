import { usageContracts } from '@curbmap/contracts';
import type { ServiceModule } from '@curbmap/service-kit';
import { includedUsageOf, usagePricing, usagePricingProjection } from './projections/usagePlansProjection.ts';
import { startPeriodClosing } from './application/periodClosing.ts';
import { ApiRequestRecorder, startPlatformUsage } from './application/platformUsage.ts';
import { startQuotaAlerts } from './application/usageQuotas.ts';
import { builtInMeterKeys } from './domain/meters/builtInMeters.ts';
import { usageAdminRoutes } from './http/usageAdminRoutes.ts';
import { usageEvidenceRoutes } from './http/usageEvidenceRoutes.ts';
import { usageRoutes } from './http/usageRoutes.ts';
import { usageInvoicesProjection } from './projections/usageInvoicesProjection.ts';
import { usagePeriodProjection } from './projections/usagePeriodProjection.ts';
import { usageDirectoryProjection, usageRollupProjection } from './projections/usageProjections.ts';

export interface UsageModuleOptions {
  /** The meters the plan catalogue names: each must exist (be built in). */
  pricedMeters: string[];
  /** How often due subscription years are closed (default every minute). */
  closeIntervalMs?: number;
  /** How often buffered API request counts are ingested (default every second). */
  apiUsageFlushMs?: number;
}

export interface UsageModule extends ServiceModule {
  /** Set once started: closes due periods at a given instant (operators, tests). */
  closePeriods: ((at?: Date) => Promise<number>) | null;
  /** Set once the edge hooks are registered: the API request counts buffered for ingestion. */
  apiRequests: ApiRequestRecorder | null;
}

/** Metering: usage events in; exact rollups, summaries, quota alerts and closed periods out. */
export function createUsageModule(options: UsageModuleOptions): UsageModule {
  const unknown = options.pricedMeters.filter((m) => !builtInMeterKeys.has(m));
  if (unknown.length > 0) throw new Error(`the plan catalogue prices meters that do not exist: ${unknown.join(', ')}`);
  const module: UsageModule = {
    name: 'usage',
    contracts: usageContracts,
    projections: [usagePricingProjection, usageDirectoryProjection, usageRollupProjection, usagePeriodProjection, usageInvoicesProjection],
    closePeriods: null,
    apiRequests: null,
    async edge(app, ctx) {
      // Every request made with an organization's key counts as its API usage (per project and key).
      const recorder = new ApiRequestRecorder(ctx, options.apiUsageFlushMs ?? 1000);
      module.apiRequests = recorder;
      app.addHook('onResponse', async (request, reply) => {
        const auth = request.auth;
        if (auth?.kind !== 'key') return;
        recorder.record(auth.organizationId, { projectId: auth.projectId, keyId: auth.keyId, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode, at: ctx.now() });
      });
      app.addHook('onClose', () => recorder.stop());
    },
    async routes(app, ctx) {
      await usageRoutes(app, ctx, includedUsageOf(ctx));
      await usageAdminRoutes(app, ctx, () => module.closePeriods);
      await usageEvidenceRoutes(app, ctx);
    },
    async start(ctx) {
      const included = includedUsageOf(ctx);
      const alerts = startQuotaAlerts(ctx, included);
      const platform = startPlatformUsage(ctx);
      const closing = startPeriodClosing(ctx, usagePricing(ctx), options.closeIntervalMs ?? 60_000);
      module.closePeriods = closing.tick;
      return {
        async stop() {
          await closing.stop();
          await alerts.stop();
          await platform.stop();
        },
      };
    },
  };
  return module;
}
