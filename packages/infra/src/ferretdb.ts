import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './freePort.ts';
import { portAnswers, serverDirectory, startServerProcess, stopChild } from './childProcess.ts';

/** Where `make ferretdb` builds FerretDB (infra/go/build-module.sh, from the Go module proxy). */
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
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
export async function startPrivateMongo(options: { dir?: string; port?: number } = {}): Promise<PrivateMongo> {
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
  if (!existsSync(FERRETDB_BIN)) throw new Error(`FerretDB is not built (make ferretdb builds it into ${FERRETDB_BIN})`);
  // A directory of the caller's (make up-distributed) is kept; a test's is temporary.
  const { dir, kept } = serverDirectory(options.dir, 'curbmap-ferretdb-');
  const port = options.port ?? (await freePort());
  const args = ['--handler=sqlite', `--sqlite-url=file:${dir}/`, `--listen-addr=127.0.0.1:${port}`, '--telemetry=disable', '--debug-addr=-', `--state-dir=${dir}`, '--log-level=warn'];
  // Ready when its port answers (its log line depends on the log level).
  const launch = () => startServerProcess('FerretDB', FERRETDB_BIN, args, { ready: () => portAnswers(port), timeoutMs: 30_000 });
  let child = await launch();
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    async crash() {
      await stopChild(child, { signal: 'SIGKILL', graceMs: 10_000 });
      child = await launch();
    },
    async stop() {
      await stopChild(child, { graceMs: 10_000 });
      if (!kept) rmSync(dir, { recursive: true, force: true });
    },
  };
}
