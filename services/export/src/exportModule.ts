import { rm } from 'node:fs/promises';
import { exportContracts } from '@curbmap/contracts';
import type { ArtifactStore, ServiceModule } from '@curbmap/service-kit';
import { HmacDownloadLinks } from './adapters/hmacDownloadLinks.ts';
import { startCurbCounting } from './application/curbCounting.ts';
import { startExportRunner, type ExportRunner } from './application/exportRunner.ts';
import { startExportScheduler, type ExportScheduler } from './application/exportScheduler.ts';
import { cdsFeedRoutes } from './http/cdsFeedRoutes.ts';
import { curbRoutes } from './http/curbRoutes.ts';
import { exportRoutes } from './http/exportRoutes.ts';
import { scheduleRoutes } from './http/scheduleRoutes.ts';
import { curbInventoryProjection, exportDirectoryProjection } from './projections/curbInventoryProjection.ts';
import { exportJobProjection } from './projections/exportJobProjection.ts';
import { exportScheduleProjection } from './projections/exportScheduleProjection.ts';

export interface ExportModuleOptions {
  artifacts: ArtifactStore;
  /** Where imports stage their checked objects until they are appended (emptied at start). */
  stagingDir: string;
  /** Signs download links (at least 32 characters; kept across restarts, or links break). */
  downloadSecret: string;
  /** How long a download link works (default 15 minutes). */
  linkTtlMs?: number;
  /** How long artifacts are kept (default 7 days). */
  retentionMs?: number;
  progressIntervalMs?: number;
  retentionIntervalMs?: number;
  /** How often due scheduled exports are looked for (default every 30 s). */
  scheduleIntervalMs?: number;
}

export interface ExportModule extends ServiceModule {
  /** Set once started (tests, operators). */
  runner: ExportRunner | null;
  scheduler: ExportScheduler | null;
}

/** Curb inventories in (CDS, GeoJSON), exports out (CDS, JSON, NDJSON, CSV), with progress and signed downloads. */
export function createExportModule(options: ExportModuleOptions): ExportModule {
  const links = new HmacDownloadLinks(options.downloadSecret);
  const module: ExportModule = {
    name: 'export',
    contracts: exportContracts,
    projections: [exportDirectoryProjection, curbInventoryProjection, exportJobProjection, exportScheduleProjection],
    runner: null,
    scheduler: null,
    async routes(app, ctx) {
      await curbRoutes(app, ctx, options.stagingDir);
      await exportRoutes(app, ctx, { artifacts: options.artifacts, links, linkTtlMs: options.linkTtlMs ?? 15 * 60_000 });
      await scheduleRoutes(app, ctx);
      await cdsFeedRoutes(app, ctx);
    },
    async start(ctx) {
      // What an import staged before a crash is of no use: it was never appended.
      await rm(options.stagingDir, { recursive: true, force: true });
      const runner = startExportRunner(ctx, {
        artifacts: options.artifacts,
        retentionMs: options.retentionMs ?? 7 * 86_400_000,
        progressIntervalMs: options.progressIntervalMs ?? 1000,
        retentionIntervalMs: options.retentionIntervalMs ?? 3_600_000,
      });
      const scheduler = startExportScheduler(ctx, options.scheduleIntervalMs ?? 30_000);
      const counting = startCurbCounting(ctx);
      module.runner = runner;
      module.scheduler = scheduler;
      return {
        async stop() {
          await scheduler.stop();
          await counting.stop();
          await runner.stop();
        },
      };
    },
  };
  return module;
}
