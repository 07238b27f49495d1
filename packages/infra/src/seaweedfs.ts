import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../freePort.ts';

/** Where `make seaweedfs` builds SeaweedFS (infra/seaweedfs/build.sh, from the Go module proxy). */
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
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

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

/**
 * SeaweedFS in one process (master, volume server, filer and S3 gateway) on free loopback ports, its data in a
 * temporary directory. Without identities configured it accepts any credentials. With S3_URL set, that server is
 * used instead and nothing is started.
 */
export async function startPrivateS3(): Promise<PrivateS3> {
  const given = process.env['S3_URL'];
  if (given) return { url: given, stop: async () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-seaweedfs-'));
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3] = (await Promise.all(Array.from({ length: 7 }, () => freePort()))) as [number, number, number, number, number, number, number];
  const args = [
    'server', `-dir=${dir}`, '-ip=127.0.0.1', '-ip.bind=127.0.0.1',
    `-master.port=${master}`, `-master.port.grpc=${masterGrpc}`, '-master.volumeSizeLimitMB=64',
    `-volume.port=${volume}`, `-volume.port.grpc=${volumeGrpc}`, '-volume.max=0',
    '-filer', `-filer.port=${filer}`, `-filer.port.grpc=${filerGrpc}`,
    '-s3', `-s3.port=${s3}`,
  ];
  const child: ChildProcess = spawn(SEAWEEDFS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-8000)));
  child.stderr!.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-8000)));
  const deadline = Date.now() + 60_000;
  // Ready when the S3 gateway answers a request (it opens its port before the filer behind it is up).
  for (;;) {
    if (child.exitCode !== null) throw new Error(`SeaweedFS exited (${child.exitCode}):\n${output}`);
    if (await answers(s3)) {
      const res = await fetch(`http://127.0.0.1:${s3}/`).catch(() => null);
      if (res && res.status < 500) break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`SeaweedFS did not start within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: `http://127.0.0.1:${s3}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
