import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BENCH_ADMIN = 'bench-admin-token-0123456789abcdef';

/**
 * The platform in its own process on a fresh data directory, as `make up` runs it, so the load generator
 * does not share its event loop. `BENCH_CHILD_NODE_OPTIONS` passes flags to it (e.g. --cpu-prof).
 */
export async function startPlatformProcess(name: string, env: Record<string, string> = {}): Promise<{ port: number; dataDir: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), `curbmap-bench-${name}-`));
  const port = 18000 + Math.floor(Math.random() * 2000);
  const child = spawn(process.execPath, ['services/gateway/dist/main.js'], {
    env: { ...process.env, NODE_OPTIONS: process.env['BENCH_CHILD_NODE_OPTIONS'] ?? '', PORT: String(port), HOST: '127.0.0.1', CURBMAP_DATA_DIR: dataDir, CURBMAP_ADMIN_TOKEN: BENCH_ADMIN, CURBMAP_SEED_DEMO: 'false', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
        if (err.includes('CurbMap is running')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`platform exited (${code}): ${err}`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, dataDir, stop };
}
