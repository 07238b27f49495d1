import { join } from 'node:path';
import type { ArtifactStore } from './artifactStore.ts';
import { LocalDirectoryArtifactStore } from './localDirectoryArtifactStore.ts';
import { S3ArtifactStore, type S3Options } from './s3ArtifactStore.ts';

/** The artifact store, chosen here only: S3_BUCKET (and S3_URL) shares it between machines; else the data directory's artifacts/. */
export function openArtifactStore(dataDir: string, s3: S3Options | null): ArtifactStore {
  return s3 ? new S3ArtifactStore(s3) : new LocalDirectoryArtifactStore(join(dataDir, 'artifacts'));
}
