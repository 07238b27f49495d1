import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { artifactStoreContract, sharedServer } from '@curbmap/testing';
import { s3Unavailable, startPrivateS3 } from '@curbmap/infra';
import { LocalDirectoryArtifactStore } from './localDirectoryArtifactStore.ts';
import { S3ArtifactStore } from './s3ArtifactStore.ts';

artifactStoreContract('local directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-artifacts-'));
  return {
    artifacts: new LocalDirectoryArtifactStore(dir),
    other: async () => new LocalDirectoryArtifactStore(dir),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

// A real S3-compatible server: SeaweedFS started here (built from the Go module proxy), or S3_URL. Never a mock.
const unavailable = s3Unavailable();
const server = sharedServer(() => startPrivateS3());

if (unavailable) {
  describe('S3 artifact store', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  // Any credentials do for SeaweedFS without identities; the SDK wants some.
  process.env['AWS_ACCESS_KEY_ID'] ??= 'curbmap-test';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'curbmap-test-secret';
  artifactStoreContract('S3 (SeaweedFS unless S3_URL)', async () => {
    const { url } = await server();
    // A bucket per fixture, created by the store itself (it is missing).
    const bucket = `curbmap-${randomUUID().slice(0, 8)}`;
    const opened: S3ArtifactStore[] = [];
    const open = () => {
      const store = new S3ArtifactStore({ url, bucket });
      opened.push(store);
      return store;
    };
    return {
      artifacts: open(),
      other: async () => open(),
      close: async () => opened.forEach((s) => s.close()),
    };
  });
}
