import type { SimPlatform } from './platform.ts';
import { SIM_ADMIN } from './platform.ts';

/** Something the platform showed that it must not: which invariant, in which history and step, what each side says. */
export interface Violation {
  invariant: string;
  step: number;
  detail: string;
}

export interface Answer {
  status: number;
  body: any;
  text: string;
}

const RETRY_FOR_MS = 90_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Calls the platform's public API as a client would: every mutating request with an Idempotency-Key, sent again
 * with the same key after a crash or a 503. Checks what any answer must be: never a 5xx that stays, every 4xx
 * a problem+json.
 */
export class Driver {
  readonly violations: Violation[] = [];
  readonly latencies: number[] = [];
  /** What was sent and answered, step by step (`who` names the organization acting), for a failing history. */
  readonly trace: { step: number; who: string; line: string }[] = [];
  who = 'operator';
  /** Called once, just before the next mutating request goes out (a crash injected under that request). */
  beforeMutation: (() => void) | null = null;
  requests = 0;
  step = 0;
  private keys = 0;

  private readonly platform: SimPlatform;
  private readonly seed: number;

  constructor(platform: SimPlatform, seed: number) {
    this.platform = platform;
    this.seed = seed;
  }

  violation(invariant: string, detail: string): void {
    this.violations.push({ invariant, step: this.step, detail });
  }

  /** `key`: the Idempotency-Key to send (a client sending one request twice at once); a fresh one otherwise. */
  async call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, auth: string | 'admin', body?: unknown, key?: string): Promise<Answer> {
    const idempotencyKey = method === 'GET' ? null : (key ?? this.newKey());
    const headers: Record<string, string> = { authorization: `Bearer ${auth === 'admin' ? SIM_ADMIN : auth}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    // A client's patience: a process restarting (its supervisor's, after a crash) or a store recovering takes
    // seconds, not a fixed number of tries.
    const until = Date.now() + RETRY_FOR_MS;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      if (method !== 'GET' && this.beforeMutation) {
        const hook = this.beforeMutation;
        this.beforeMutation = null;
        hook();
      }
      let res: Response;
      try {
        res = await fetch(new URL(path, this.platform.url()), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
      } catch (err) {
        // The process died under the request (a crash the simulation injected): the same request again.
        if (Date.now() >= until) throw new Error(`${method} ${path}: no answer in ${RETRY_FOR_MS / 1000} s (${attempt} attempts): ${(err as Error).message}`);
        await sleep(100);
        continue;
      }
      const text = await res.text();
      if (path !== '/metrics') {
        this.requests += 1;
        this.latencies.push(performance.now() - started);
      }
      // The same key still in flight (the client sent it twice at once): asked to retry later, it does.
      if (res.status === 409 && text.includes('idempotency_key_in_use') && Date.now() < until) {
        await sleep(50);
        continue;
      }
      if (res.status === 503 && Date.now() < until) {
        await sleep(Math.min(2_000, Number(res.headers.get('retry-after') ?? '0.2') * 1000));
        continue;
      }
      if (path !== '/metrics' && method !== 'GET') this.trace.push({ step: this.step, who: this.who, line: `${method} ${path} ${body === undefined ? '' : JSON.stringify(body)} → ${res.status}` });
      if (res.status >= 500) this.violation('6 no 5xx', `${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
      if (res.status >= 400 && res.status < 500 && !(res.headers.get('content-type') ?? '').startsWith('application/problem+json')) {
        this.violation('6 problem+json', `${method} ${path} answered ${res.status} as ${res.headers.get('content-type')}`);
      }
      let parsed: unknown = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      return { status: res.status, body: parsed, text };
    }
  }

  newKey(): string {
    return `sim-${this.seed}-${++this.keys}`;
  }

  quiet(): Promise<void> {
    return this.platform.quiet();
  }

  /** Every page of a list. */
  async list(path: string, auth: string): Promise<any[]> {
    const out: any[] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await this.call('GET', `${path}${sep}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, auth);
      if (page.status !== 200) throw new Error(`GET ${path}: ${page.status} ${page.text.slice(0, 200)}`);
      out.push(...(page.body.data as any[]));
      cursor = page.body.next ?? null;
    } while (cursor);
    return out;
  }

  /** p99 of request latencies, in ms. */
  p99(): number {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]! : 0;
  }
}
