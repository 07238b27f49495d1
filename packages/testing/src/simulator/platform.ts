import { spawn, type ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
export const SIM_ADMIN = 'simulation-admin-token-0123456789abcdef';

/** The platform under simulation: one or more processes of ours, on a clock the simulation moves. */
export interface SimPlatform {
  /** The gateway's URL as of now (a restarted process listens on another port). */
  url(): string;
  /** Moves every process's clock (CURBMAP_CLOCK_FILE): written whole, then renamed, so no reader sees half. */
  setClock(at: Date): void;
  /** kill -9 of one process (the simulation picks which), then starts it again on the same data. */
  crash(which?: string): Promise<string>;
  /** Names of the processes a crash may hit. */
  processes(): string[];
  stop(): Promise<void>;
}

interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** One process of ours from its sources; resolves with the URL its start-up line names. */
export function startProcess(entry: string, env: Record<string, string>, announces: RegExp): Promise<Running> {
  const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', join(root, entry)], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start:\n${output}`)), 90_000);
    const watch = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      const url = announces.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url, output: () => output });
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code ?? signal}):\n${output}`));
    });
  });
}

export async function killHard(p: Running | null): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await exited;
}

export async function stopProcess(p: Running | null): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export function clockWriter(file: string): (at: Date) => void {
  return (at) => {
    writeFileSync(`${file}.next`, at.toISOString());
    renameSync(`${file}.next`, file);
  };
}

/** Environment every simulated process shares: its clock, plans, operator token, quiet logs. */
export function simulationEnv(dir: string): Record<string, string> {
  return {
    CURBMAP_CLOCK_FILE: join(dir, 'clock'),
    CURBMAP_PLANS_FILE: join(dir, 'plans.json'),
    CURBMAP_ADMIN_TOKEN: SIM_ADMIN,
    CURBMAP_DATA_DIR: join(dir, 'data'),
    // The simulation runs the schedulers itself, at the instants it chooses.
    BILLING_SCHEDULER_INTERVAL_SECONDS: '86400',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '1000000',
    HOST: '127.0.0.1',
    PORT: '0',
  };
}

/** Embedded mode: the whole platform in one process on SQLite, killed and started again on the same files. */
export async function startEmbedded(dir: string): Promise<SimPlatform> {
  const env = simulationEnv(dir);
  const launch = () => startProcess('services/gateway/src/main.ts', env, /CurbMap is running at (\S+)/);
  let current: Running | null = await launch();
  const setClock = clockWriter(env['CURBMAP_CLOCK_FILE']!);
  return {
    url: () => current!.url,
    setClock,
    processes: () => ['platform'],
    async crash() {
      await killHard(current);
      current = await launch();
      return 'platform';
    },
    async stop() {
      await stopProcess(current);
    },
  };
}
