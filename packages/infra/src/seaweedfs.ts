import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './freePort.ts';
import { portAnswers, serverDirectory, startServerProcess, stopChild } from './childProcess.ts';

/** Where `make seaweedfs` builds SeaweedFS (infra/go/build-module.sh, from the Go module proxy). */
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const SEAWEEDFS_BIN = process.env['SEAWEEDFS_BIN'] ?? join(repoRoot, '.tools', 'seaweedfs', 'weed');

export interface PrivateS3 {
  /** The S3 endpoint, http://127.0.0.1:<port> (any credentials are accepted). */
  url: string;
  stop(): Promise<void>;
}

/** Why an S3-compatible server cannot be started here, or null (what a suite prints when it skips). */
export function s3Unavailable(): string | null {
  if (process.env['S3_URL']) return null;
  if (!existsSync(SEAWEEDFS_BIN)) return `SeaweedFS is not built (make seaweedfs builds it into ${SEAWEEDFS_BIN}; or set S3_URL)`;
  return null;
}

/**
 * SeaweedFS in one process (master, volume server, filer and S3 gateway) on free loopback ports, its data in a
 * temporary directory (or the caller's, kept). Without identities configured it accepts any credentials. With
 * S3_URL set, that server is used instead and nothing is started.
 */
export async function startPrivateS3(options: { dir?: string; port?: number } = {}): Promise<PrivateS3> {
  const given = process.env['S3_URL'];
  if (given) return { url: given, stop: async () => {} };
  if (!existsSync(SEAWEEDFS_BIN)) throw new Error(`SeaweedFS is not built (make seaweedfs builds it into ${SEAWEEDFS_BIN})`);
  const { dir, kept } = serverDirectory(options.dir, 'curbmap-seaweedfs-');
  // A kept directory keeps its ports too (the master's data names them).
  const portsFile = join(dir, 'ports.json');
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3] = (
    existsSync(portsFile) ? JSON.parse(readFileSync(portsFile, 'utf8')) : [...(await Promise.all(Array.from({ length: 6 }, () => freePort()))), options.port ?? (await freePort())]
  ) as [number, number, number, number, number, number, number];
  if (kept) writeFileSync(portsFile, JSON.stringify([master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3]));
  const args = [
    'server', `-dir=${dir}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
    `-master.port=${master}`, `-master.port.grpc=${masterGrpc}`, '-master.volumeSizeLimitMB=64',
    `-volume.port=${volume}`, `-volume.port.grpc=${volumeGrpc}`, '-volume.max=0',
    '-filer', `-filer.port=${filer}`, `-filer.port.grpc=${filerGrpc}`,
    '-s3', `-s3.port=${s3}`,
  ];
  // Ready when the S3 gateway answers a request (it opens its port before the filer behind it is up).
  const answers = async () => (await portAnswers(s3)) && ((await fetch(`http://127.0.0.1:${s3}/`).catch(() => null))?.status ?? 500) < 500;
  const child = await startServerProcess('SeaweedFS', SEAWEEDFS_BIN, args, { ready: answers, timeoutMs: 60_000, pollMs: 200 });
  return {
    url: `http://127.0.0.1:${s3}`,
    async stop() {
      await stopChild(child, { graceMs: 10_000 });
      if (!kept) rmSync(dir, { recursive: true, force: true });
    },
  };
}
