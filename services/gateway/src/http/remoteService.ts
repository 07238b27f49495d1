import type { Logger } from 'pino';

/** One process of a service: where it listens, who it is (its instance id, new at each start), whether it answers. */
export interface ServiceProcess {
  readonly url: string;
  instance: string | null;
  healthy: boolean;
  /** Health checks failed in a row (a refused connection counts at once). */
  misses: number;
}

export interface RemoteServiceOptions {
  /** CURBMAP_INTERNAL_SECRET: signs what the gateway decided about each request it forwards. */
  secret: string;
  /** How often each process's /healthz is asked (default 1 s). */
  healthIntervalMs?: number;
  log?: Logger;
}

/** A health check that takes longer is a failed one. */
const HEALTH_TIMEOUT_MS = 1_000;
/** Failed checks in a row before a process that still accepts connections gets no more requests (a slow moment is not a failure). */
const MISSES = 3;

/**
 * A service in its own processes (distributed mode; several URLs per service in SERVICE_URLS): requests go round
 * the healthy ones. Each process is asked for its /healthz every second; one that fails it (or refuses a
 * connection) gets no more requests until it answers again, and its instance id is taken afresh from that answer,
 * so a restarted process is signed for as the new process it is.
 */
export class RemoteService {
  readonly name: string;
  readonly secret: string;
  readonly processes: ServiceProcess[];
  private next = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly options: RemoteServiceOptions;

  constructor(name: string, urls: string[], options: RemoteServiceOptions) {
    if (urls.length === 0) throw new Error(`service ${name}: no URL`);
    this.name = name;
    this.secret = options.secret;
    this.options = options;
    this.processes = urls.map((url) => ({ url, instance: null, healthy: true, misses: 0 }));
  }

  /** Starts the health checks (stopped by stop()). */
  start(): this {
    const checkAll = () => void Promise.all(this.processes.map((p) => this.check(p)));
    if (this.timer) return this;
    checkAll();
    this.timer = setInterval(checkAll, this.options.healthIntervalMs ?? 1_000);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * The next healthy process whose instance is known, round the list, skipping those already tried for this
   * request; when there is none, every other one is asked now (just started, or the checks have not run yet).
   * Null when none answers.
   */
  async pick(tried: ReadonlySet<ServiceProcess> = new Set()): Promise<ServiceProcess | null> {
    const usable = () => this.processes.filter((p) => !tried.has(p) && p.healthy && p.instance !== null);
    let candidates = usable();
    if (candidates.length === 0) {
      await Promise.all(this.processes.filter((p) => !tried.has(p)).map((p) => this.check(p)));
      candidates = usable();
    }
    if (candidates.length === 0) return null;
    this.next = (this.next + 1) % 1_000_000;
    return candidates[this.next % candidates.length]!;
  }

  /** A connection refused or a request signed for an instance that is gone: out of the rotation until it answers again. */
  failed(process: ServiceProcess): void {
    if (process.healthy) this.options.log?.warn({ service: this.name, url: process.url }, 'service process not answering; no more requests until it does');
    process.healthy = false;
    process.instance = null;
    process.misses = MISSES;
  }

  /** Asks the process's /healthz: healthy with its instance id, or not. */
  async check(process: ServiceProcess): Promise<boolean> {
    try {
      const answer = await fetch(new URL('/healthz', process.url), { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      const body = (await answer.json()) as { instance?: unknown };
      if (answer.status !== 200 || typeof body.instance !== 'string') throw new Error(`health check answered ${answer.status}`);
      if (!process.healthy) this.options.log?.info({ service: this.name, url: process.url }, 'service process answers again');
      process.instance = body.instance;
      process.healthy = true;
      process.misses = 0;
      return true;
    } catch (err) {
      // Refused: not there. Slow or failing: out after a few checks in a row.
      process.misses += 1;
      if (refusedConnection(err) || process.misses >= MISSES) this.failed(process);
      return false;
    }
  }
}

/** The connection was refused: a request never reached the process. */
export const refusedConnection = (err: unknown) => (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
