import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BENCH_ADMIN = 'bench-admin-token-0123456789abcdef';

/**
 * The arguments of package.json's `up` script (what `make up` runs): the same Node flags as in production, e.g.
 * --max-semi-space-size, which bounds the young generation (V8 sizes it from the machine's memory otherwise, and
 * a streaming export's short-lived garbage would fill 100 MB and more of it before a scavenge).
 */
function upArguments(): string[] {
  const script = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { up: string } }).scripts.up.split(/\s+/);
  if (script[0] !== 'node') throw new Error(`bench: package.json's up script should start with node: ${script.join(' ')}`);
  return script.slice(1);
}

/** The up script's arguments, with `BENCH_CHILD_ARGS` (node or V8 flags such as --trace-gc) after its own flags. */
function childArguments(): string[] {
  const up = upArguments();
  return [...up.slice(0, -1), ...(process.env['BENCH_CHILD_ARGS'] ?? '').split(' ').filter(Boolean), up.at(-1)!];
}

/**
 * The platform in its own process on a fresh data directory, as `make up` runs it, so the load generator
 * does not share its event loop. `BENCH_CHILD_NODE_OPTIONS` passes flags to it (e.g. --cpu-prof), `BENCH_CHILD_ARGS`
 * those NODE_OPTIONS refuses (--trace-gc), `BENCH_CHILD_STDOUT` a file for its standard output.
 */
export async function startPlatformProcess(name: string, env: Record<string, string> = {}, options: { dataDir?: string } = {}): Promise<{ port: number; dataDir: string; pid: number; stop(): Promise<void> }> {
  // A data directory given by the caller outlives this process (a benchmark restarts the platform on it).
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), `curbmap-bench-${name}-`));
  const port = 18000 + Math.floor(Math.random() * 2000);
  const child = spawn(process.execPath, childArguments(), {
    env: { ...process.env, NODE_OPTIONS: process.env['BENCH_CHILD_NODE_OPTIONS'] ?? '', PORT: String(port), HOST: '127.0.0.1', CURBMAP_DATA_DIR: dataDir, CURBMAP_ADMIN_TOKEN: BENCH_ADMIN, CURBMAP_SEED_DEMO: 'false', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', process.env['BENCH_CHILD_STDOUT'] ? openSync(process.env['BENCH_CHILD_STDOUT'], 'w') : 'ignore', 'pipe'],
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
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
  return { port, dataDir, pid: child.pid!, stop };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP call to the platform process (keep-alive connections). */
export function call(port: number, method: string, path: string, token: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = request({ host: '127.0.0.1', port, path, method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    // A benchmark that waits for ever tells nothing: a request silent for ten minutes is a failure.
    req.setTimeout(600_000, () => req.destroy(new Error(`${method} ${path}: nothing for ten minutes`)));
    req.end(body);
  });
}
