import { spawn, type ChildProcess } from 'node:child_process';
import { stopChild } from '@curbmap/infra';

export interface SupervisedProcess {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string | undefined>;
  /** Start-up is done when the process prints a line matching this; its first group is the URL. */
  ready: RegExp;
}

export interface SupervisorEvents {
  started(name: string, url: string, restarts: number): void;
  died(name: string, code: number | null, signal: string | null, restartInMs: number): void;
  output(name: string, line: string): void;
}

/**
 * Keeps processes running (make up-distributed): a process that dies is started again after a pause that
 * doubles while it keeps dying (1 s up to 30 s), and resets once it has run a minute. stop() ends them all.
 */
export class Supervisor {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  private readonly events: SupervisorEvents;
  private readonly initialDelayMs: number;

  constructor(events: SupervisorEvents, options: { initialDelayMs?: number } = {}) {
    this.events = events;
    this.initialDelayMs = options.initialDelayMs ?? 1000;
  }

  /** Starts the process and resolves with its URL once it is ready (the first time). */
  start(spec: SupervisedProcess): Promise<string> {
    return new Promise((resolve, reject) => {
      let restarts = 0;
      let delay = this.initialDelayMs;
      let first = true;
      const launch = () => {
        const startedAt = Date.now();
        const child = spawn(spec.command, spec.args, { env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
        this.children.set(spec.name, child);
        let buffer = '';
        const onData = (chunk: Buffer) => {
          buffer += chunk.toString();
          for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            this.events.output(spec.name, line);
            const url = spec.ready.exec(line)?.[1];
            if (url) {
              this.events.started(spec.name, url, restarts);
              if (first) {
                first = false;
                resolve(url);
              }
            }
          }
        };
        child.stdout!.on('data', onData);
        child.stderr!.on('data', onData);
        child.once('exit', (code, signal) => {
          if (this.stopping) return;
          if (first && restarts >= 3) return reject(new Error(`${spec.name} keeps exiting before it is ready (last: ${code ?? signal})`));
          if (Date.now() - startedAt > 60_000) delay = this.initialDelayMs;
          this.events.died(spec.name, code, signal, delay);
          restarts += 1;
          setTimeout(() => !this.stopping && launch(), delay);
          delay = Math.min(30_000, delay * 2);
        });
      };
      launch();
    });
  }

  /** The running process of a name (tests: kill it). */
  process(name: string): ChildProcess | undefined {
    return this.children.get(name);
  }

  /** SIGTERM to every process, in the reverse of their start order; resolves when all have exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const child of [...this.children.values()].reverse()) await stopChild(child, { graceMs: 20_000 });
  }
}
