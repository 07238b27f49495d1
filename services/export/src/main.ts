// The export service in its own process (distributed mode): node services/export/dist/main.js
import { openArtifactStore, runServiceMain } from '@curbmap/service-kit';
import { setUpExport } from './exportSetup.ts';

await runServiceMain(async (config) => setUpExport({ dataDir: config.dataDir, downloadSecret: config.downloadSecret, artifacts: await openArtifactStore(config.dataDir, config.s3) }));
