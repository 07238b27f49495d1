import { join } from 'node:path';
import type { ArtifactStore } from './artifactStore.ts';
import { LocalDirectoryArtifactStore } from './localDirectoryArtifactStore.ts';
import type { S3Options } from './s3ArtifactStore.ts';

/**
 * The artifact store, chosen here only: S3_BUCKET (and S3_URL) shares it between machines; else the data directory's
 * artifacts/. The AWS SDK is loaded only for S3 (tens of MB a process does not use otherwise).
 */
export async function openArtifactStore(dataDir: string, s3: S3Options | null): Promise<ArtifactStore> {
  if (!s3) return new LocalDirectoryArtifactStore(join(dataDir, 'artifacts'));
  const { S3ArtifactStore } = await import('./s3ArtifactStore.ts');
  return new S3ArtifactStore(s3);
}
