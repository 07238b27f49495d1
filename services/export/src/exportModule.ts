import { exportContracts } from '@curbmap/contracts';
import type { ArtifactStore, ServiceModule } from '@curbmap/service-kit';
import { HmacDownloadLinks } from './adapters/hmacDownloadLinks.ts';
import { startExportRunner, type ExportRunner } from './application/exportRunner.ts';
import { curbRoutes } from './http/curbRoutes.ts';
import { exportRoutes } from './http/exportRoutes.ts';
import { curbInventoryProjection, exportDirectoryProjection } from './projections/curbInventoryProjection.ts';
import { exportJobProjection } from './projections/exportJobProjection.ts';

export interface ExportModuleOptions {
  artifacts: ArtifactStore;
  /** Signs download links (at least 32 characters; kept across restarts, or links break). */
  downloadSecret: string;
  /** How long a download link works (default 15 minutes). */
  linkTtlMs?: number;
  /** How long artifacts are kept (default 7 days). */
  retentionMs?: number;
  progressIntervalMs?: number;
  retentionIntervalMs?: number;
}

export interface ExportModule extends ServiceModule {
  /** Set once started (tests, operators). */
  runner: ExportRunner | null;
}

/** Curb inventories in (CDS, GeoJSON), exports out (CDS, JSON, NDJSON, CSV), with progress and signed downloads. */
export function createExportModule(options: ExportModuleOptions): ExportModule {
  const links = new HmacDownloadLinks(options.downloadSecret);
  const module: ExportModule = {
    name: 'export',
    contracts: exportContracts,
    projections: [exportDirectoryProjection, curbInventoryProjection, exportJobProjection],
    runner: null,
    async routes(app, ctx) {
      await curbRoutes(app, ctx);
      await exportRoutes(app, ctx, { artifacts: options.artifacts, links, linkTtlMs: options.linkTtlMs ?? 15 * 60_000 });
    },
    async start(ctx) {
      const runner = startExportRunner(ctx, {
        artifacts: options.artifacts,
        retentionMs: options.retentionMs ?? 7 * 86_400_000,
        progressIntervalMs: options.progressIntervalMs ?? 1000,
        retentionIntervalMs: options.retentionIntervalMs ?? 3_600_000,
      });
      module.runner = runner;
      return runner;
    },
  };
  return module;
}
