import { join } from 'node:path';
import { LocalDirectoryArtifactStore, resolveSecret, type ArtifactStore } from '@curbmap/service-kit';
import { createExportModule, type ExportModule } from './exportModule.ts';

export interface ExportSetupOptions {
  /** Where artifacts, staged imports and generated secrets are kept. */
  dataDir: string;
  /** CURBMAP_DOWNLOAD_SECRET (signs download links); generated into the data directory when absent. */
  downloadSecret?: string | null;
  exportRetentionMs?: number;
  exportScheduleIntervalMs?: number;
  /** Shared with the invoice service (invoice PDFs); by default the data directory's artifacts/. */
  artifacts?: ArtifactStore;
}

export const artifactStoreIn = (dataDir: string) => new LocalDirectoryArtifactStore(join(dataDir, 'artifacts'));

/** The export service, configured (embedded or in its own process). */
export function setUpExport(options: ExportSetupOptions): ExportModule {
  return createExportModule({
    artifacts: options.artifacts ?? artifactStoreIn(options.dataDir),
    stagingDir: join(options.dataDir, 'staging'),
    downloadSecret: resolveSecret(options.downloadSecret ?? null, options.dataDir, 'download-secret', 'cmd_').secret,
    ...(options.exportRetentionMs ? { retentionMs: options.exportRetentionMs } : {}),
    ...(options.exportScheduleIntervalMs ? { scheduleIntervalMs: options.exportScheduleIntervalMs } : {}),
  });
}
