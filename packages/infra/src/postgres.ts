import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { freePort } from './freePort.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** kill -9 of the server (an immediate shutdown: no checkpoint, recovery from the WAL), then a start on the same port and data. */
  crash(): Promise<void>;
  stop(): Promise<void>;
}

/** Debian's PostgreSQL binaries (the newest installed), or null. */
export function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(a) - Number(b));
  return versions.length ? join(root, versions.at(-1)!, 'bin') : null;
}

/** Why a private cluster cannot be started here, or null (what a suite prints when it skips). */
export function postgresUnavailable(): string | null {
  if (process.env['DATABASE_URL']) return null;
  if (!postgresBin()) return 'PostgreSQL is not installed (make postgres installs Debian\'s; or set DATABASE_URL)';
  if (process.getuid?.() === 0 && spawnSync('id', ['postgres']).status !== 0) return 'no postgres user to run the server as (Debian\'s package creates it)';
  return null;
}

/**
 * A throw-away PostgreSQL cluster on a free loopback port (initdb into a temporary directory, trust auth, fsync
 * off: tests only), run as the postgres user when we are root (PostgreSQL refuses root). With DATABASE_URL set,
 * that server is used instead and nothing is started.
 */
/**
 * `crashes`: the caller kills the server (crash()): a commit is written to the log before it is acknowledged
 * (synchronous_commit on), so a kill loses nothing acknowledged. fsync stays off: the machine itself does not crash.
 * `settings`: server settings of the test's own (`-c name=value`).
 */
export async function startPrivateCluster(options: { dir?: string; port?: number; crashes?: boolean; settings?: Record<string, string | number> } = {}): Promise<PrivateCluster> {
  const given = process.env['DATABASE_URL'];
  if (given) {
    const outside = async () => {
      throw new Error('the server in DATABASE_URL is not this process\'s to crash');
    };
    return { url: given, crash: outside, stop: async () => {} };
  }
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed');
  // A directory of the caller's (make up-distributed) is kept, and durable; a test's is temporary and fast.
  const kept = options.dir !== undefined;
  if (kept) mkdirSync(options.dir!, { recursive: true });
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'curbmap-pg-'));
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) => {
    try {
      return asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { stdio: 'pipe' }) : execFileSync(join(bin, cmd), args, { stdio: 'pipe' });
    } catch (err) {
      // What the tool said, as text (execFileSync's error carries it as byte arrays).
      const said = (err as { stderr?: Buffer; stdout?: Buffer }).stderr?.toString().trim() || (err as { stdout?: Buffer }).stdout?.toString().trim() || String(err);
      throw new Error(`PostgreSQL's ${cmd} failed: ${said}`);
    }
  };
  if (asRoot) {
    // PostgreSQL refuses to run as root and runs as the postgres user, who must be able to enter every directory
    // above the cluster's (a home directory of mode 0700 is the usual obstacle).
    const blocked = firstUnreachable(dir);
    if (blocked) throw new Error(`PostgreSQL runs as the postgres user, who cannot enter ${blocked} (on the way to ${dir}). Put the data elsewhere (make up-distributed: CURBMAP_DISTRIBUTED_DATA_DIR=/var/tmp/curbmap-distributed), or let it through: chmod o+x ${blocked}`);
    const [uid, gid] = execFileSync('id', ['-u', 'postgres']).toString().trim().split('\n').concat(execFileSync('id', ['-g', 'postgres']).toString().trim()).map(Number);
    chownSync(dir, uid!, gid!);
  }
  chmodSync(dir, 0o700);
  if (!existsSync(join(dir, 'data', 'PG_VERSION'))) run('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = options.port ?? (await freePort());
  const fast = kept ? '' : options.crashes ? ' -c fsync=off -c full_page_writes=off' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
  const settings = Object.entries(options.settings ?? {}).map(([name, value]) => ` -c ${name}=${value}`).join('');
  const start = () => run('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-t', '60', 'start', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200${fast}${settings}`]);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async crash() {
      run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop']);
      start();
    },
    async stop() {
      try {
        run('pg_ctl', ['-D', join(dir, 'data'), '-m', kept ? 'fast' : 'immediate', '-w', 'stop']);
      } finally {
        if (!kept) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A new, empty database on the cluster (each test gets its own); answers its URL and how to drop it. */
export async function createDatabase(clusterUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const { default: pg } = await import('pg');
  const name = `t_${randomUUID().replace(/-/g, '')}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: clusterUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await run(`CREATE DATABASE ${name}`);
  const url = new URL(clusterUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** The database of that name on the cluster, created when missing (make up-distributed); answers its URL. */
export async function ensureDatabase(clusterUrl: string, name: string): Promise<string> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: clusterUrl });
  await client.connect();
  try {
    if ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  const url = new URL(clusterUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** The first directory above `dir` (from the root down) that the postgres user cannot enter, or null. */
function firstUnreachable(dir: string): string | null {
  const parts = dir.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const path = `/${parts.slice(0, i).join('/')}`;
    if (spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', path]).status !== 0) return path;
  }
  return null;
}
