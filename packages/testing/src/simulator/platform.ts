import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killHard, startProcess, stopProcess, type Running } from '../processes.ts';

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
  /**
   * Resolves once every subscription has handled the whole log (twice in a row, a moment apart): what the
   * history does next then depends on the history only, never on how fast a process was.
   */
  quiet(): Promise<void>;
  /** Processes that exited on their own and were started again (distributed mode's supervisor). */
  restarts?(): string[];
  /** What the processes printed lately (their warnings and errors), to explain a violation. */
  logs(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `settled` (true, or what is not settled yet) until it holds twice in a row. */
export async function twiceSettled(settled: () => Promise<true | string>, what: string): Promise<void> {
  let times = 0;
  let pending = '';
  for (const until = Date.now() + 120_000; Date.now() < until; ) {
    let ok = false;
    try {
      const answer = await settled();
      ok = answer === true;
      if (answer !== true) pending = answer;
    } catch (err) {
      pending = `${(err as Error).message}`; // a process restarting
    }
    times = ok ? times + 1 : 0;
    if (times >= 2) return;
    await sleep(ok ? 100 : 25);
  }
  throw new Error(`${what} never became quiet in 120 s; last seen: ${pending}`);
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
    USAGE_CLOSE_INTERVAL_SECONDS: '86400',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '1000000',
    // The organizations' webhook endpoint is the simulation's, on loopback.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    HOST: '127.0.0.1',
    PORT: '0',
  };
}

/** Embedded mode: the whole platform in one process on SQLite, killed and started again on the same files. */
export async function startEmbedded(dir: string, extra: Record<string, string> = {}): Promise<SimPlatform> {
  const env = { ...simulationEnv(dir), ...extra };
  const launch = () => startProcess('services/gateway/src/main.ts', env, /CurbMap is running at (\S+)/);
  let current: Running | null = await launch();
  const setClock = clockWriter(env['CURBMAP_CLOCK_FILE']!);
  return {
    url: () => current!.url,
    setClock,
    processes: () => ['platform'],
    logs: () => current?.output() ?? '',
    // The platform reports each subscription's lag behind the log (SQLite positions): all zero is quiet.
    quiet: () =>
      twiceSettled(async () => {
        const res = await fetch(new URL('/metrics', current!.url), { headers: { authorization: `Bearer ${SIM_ADMIN}` } });
        const lags = [...(await res.text()).matchAll(/^curbmap_subscription_lag_events\{[^}]*\} (\d+)/gm)].map((m) => Number(m[1]));
        return (res.ok && lags.length > 0 && lags.every((n) => n === 0)) || `metrics ${res.status}, lags ${lags.join(' ')}`;
      }, 'the embedded platform'),
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
