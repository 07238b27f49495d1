import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { freePort } from '../freePort.ts';

/** Where `make ferretdb` builds FerretDB (infra/ferretdb/build.sh, from the Go module proxy). */
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
export const FERRETDB_BIN = process.env['FERRETDB_BIN'] ?? join(repoRoot, '.tools', 'ferretdb', 'ferretdb');

export interface PrivateMongo {
  /** mongodb://127.0.0.1:<port>/ (a database per test: append its name). */
  url: string;
  /** kill -9 of the server, then a start on the same port and data. */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/** Why a MongoDB-wire server cannot be started here, or null (what a suite prints when it skips). */
export function mongoUnavailable(): string | null {
  if (process.env['MONGO_URL']) return null;
  if (!existsSync(FERRETDB_BIN)) return `FerretDB is not built (make ferretdb builds it into ${FERRETDB_BIN}; or set MONGO_URL)`;
  return null;
}

/**
 * FerretDB 1.24 (the MongoDB wire protocol) on SQLite files in a temporary directory, on a free loopback port.
 * No transactions, change streams or nested arrays: what the MongoDB adapter must do without. With MONGO_URL set,
 * that server (a real MongoDB) is used instead and nothing is started.
 */
export async function startPrivateMongo(): Promise<PrivateMongo> {
  const given = process.env['MONGO_URL'];
  if (given) {
    return {
      url: given,
      crash: async () => {
        throw new Error('the server in MONGO_URL is not this process\'s to crash');
      },
      stop: async () => {},
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-ferretdb-'));
  const port = await freePort();
  const launch = async (): Promise<ChildProcess> => {
    const args = ['--handler=sqlite', `--sqlite-url=file:${dir}/`, `--listen-addr=127.0.0.1:${port}`, '--telemetry=disable', '--debug-addr=-', `--state-dir=${dir}`, '--log-level=warn'];
    const child = spawn(FERRETDB_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`FerretDB did not start within 30 s:\n${output.slice(-2000)}`)), 30_000);
      const ready = async () => {
        // Ready when its port answers (its log line depends on the log level).
        for (;;) {
          if (child.exitCode !== null) return;
          const ok = await new Promise<boolean>((r) => {
            const socket = connect(port, '127.0.0.1');
            socket.once('connect', () => (socket.destroy(), r(true)));
            socket.once('error', () => r(false));
          });
          if (ok) {
            clearTimeout(timer);
            resolve();
            return;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`FerretDB exited (${code}):\n${output.slice(-2000)}`));
      });
      void ready();
    });
    child.removeAllListeners('exit');
    return child;
  };
  const halt = async (child: ChildProcess, signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  let child = await launch();
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    async crash() {
      await halt(child, 'SIGKILL');
      child = await launch();
    },
    async stop() {
      await halt(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
