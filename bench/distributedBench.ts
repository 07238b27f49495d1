import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDatabase, freePort, kafkaUnavailable, postgresUnavailable, startPrivateBroker, startPrivateCluster } from '@curbmap/infra';
import { startProcess, stopProcess, type Running } from '@curbmap/testing/processes';
import { BENCH_ADMIN as ADMIN, call } from './platformProcess.ts';
import type { Figure } from './report.ts';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const ORGANIZATIONS = 12;
const BATCH = 1_000;
const CLIENTS = 8;
/** Batches per organization sent (and counted) before anything is measured. */
const WARM_UP = 2;

/**
 * The baseline: PostgreSQL alone taking what an accepted batch stores (one row for the batch, one claim per event),
 * one transaction per batch, CLIENTS connections at a time: the store's own write rate on this machine.
 */
async function barePostgres(url: string, events: number): Promise<number> {
  const pool = new pg.Pool({ connectionString: url, max: CLIENTS });
  try {
    await pool.query('CREATE TABLE bare_batches (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text UNIQUE, data jsonb); CREATE TABLE bare_claims (key text PRIMARY KEY, position bigint)');
    let next = 0;
    const batches = events / BATCH;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        const client = await pool.connect();
        try {
          for (let b = next++; b < batches; b = next++) {
            const items = Array.from({ length: BATCH }, (_, i) => ({ id: `e${b}-${i}`, type: 'hit', projectId: randomUUID(), time: new Date().toISOString(), data: {} }));
            await client.query('BEGIN');
            const { rows } = await client.query<{ position: string }>('INSERT INTO bare_batches (id, data) VALUES ($1, $2) RETURNING position', [randomUUID(), JSON.stringify({ items })]);
            await client.query('INSERT INTO bare_claims (key, position) SELECT unnest($1::text[]), $2', [items.map((it) => `usage:org:${it.id}`), rows[0]!.position]);
            await client.query('COMMIT');
          }
        } finally {
          client.release();
        }
      }),
    );
    return events / ((performance.now() - started) / 1000);
  } finally {
    await pool.end();
  }
}

/** A line on stderr with the time: a run that stops moving shows where it stopped. */
const say = (what: string) => process.stderr.write(`bench: distributed, ${what} at ${new Date().toISOString()}\n`);

/**
 * Distributed mode: usage ingest through the gateway into 1, 2 and 3 usage processes on PostgreSQL and Kafka
 * (durable, deduplicated), and how long an accepted event takes to show in the usage summary under that load.
 */
export async function distributedBench(scale: number): Promise<Figure[]> {
  const unavailable = postgresUnavailable() ?? kafkaUnavailable();
  if (unavailable) {
    process.stderr.write(`bench: distributed skipped: ${unavailable}\n`);
    return [];
  }
  const [cluster, broker] = await Promise.all([startPrivateCluster(), startPrivateBroker()]);
  const events = Math.max(20_000, Math.round((360_000 * scale) / BATCH) * BATCH);
  const figures: Figure[] = [];
  try {
    const baseline = await barePostgres((await createDatabase(cluster.url)).url, events);
    // BENCH_DISTRIBUTED_PROCESSES=3 measures one count alone (while looking into a figure).
    for (const processes of (process.env.BENCH_DISTRIBUTED_PROCESSES ?? '1,2,3').split(',').map(Number)) {
      const running: Running[] = [];
      // Each step on stderr with the time: a run that stops moving shows where it stopped.
      const step = (what: string) => say(`${processes} usage process${processes > 1 ? 'es' : ''}: ${what}`);
      const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-bench-distributed-'));
      try {
        const env = { DATABASE_URL: (await createDatabase(cluster.url)).url, KAFKA_BROKERS: broker.brokers.join(','), CURBMAP_INTERNAL_SECRET: randomBytes(32).toString('hex'), CURBMAP_DATA_DIR: dataDir, KAFKA_PARTITIONS: '6', LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '1000000000' };
        const urls: string[] = [];
        for (let i = 0; i < processes; i++) {
          const usage = await startProcess('services/usage/src/main.ts', { ...env, PORT: String(await freePort()) }, /curbmap service listening at (\S+)/);
          running.push(usage);
          urls.push(`usage=${usage.url}`);
        }
        const gateway = await startProcess('services/gateway/src/main.ts', { ...env, PORT: String(await freePort()), HOST: '127.0.0.1', CURBMAP_ADMIN_TOKEN: ADMIN, SERVICE_URLS: urls.join(',') }, /CurbMap is running at (\S+)/);
        running.push(gateway);
        step('processes started');
        const port = Number(new URL(gateway.url).port);
        const json = async (method: string, path: string, token: string, body?: unknown) => {
          for (let attempt = 0; ; attempt++) {
            const res = await call(port, method, path, token, body === undefined ? undefined : JSON.stringify(body));
            if (res.status < 300 || attempt > 100) return JSON.parse(res.body) as Record<string, unknown>;
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        // Several organizations: one organization's events are handled by one process (deployment.md).
        const orgs: { apiKey: string; project: string }[] = [];
        for (let i = 0; i < ORGANIZATIONS; i++) {
          const org = await json('POST', '/v1/organizations', ADMIN, { name: `Bench ${i}`, billingEmail: `ap@bench${i}.example` });
          const apiKey = org['apiKey'] as string;
          const project = (await json('POST', '/v1/projects', apiKey, { name: 'P' }))['id'] as string;
          await json('POST', '/v1/meters', apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' });
          await json('POST', '/v1/meters', apiKey, { key: 'probes', name: 'Probes', eventType: 'probe', aggregation: 'count' });
          orgs.push({ apiKey, project });
        }
        step('organizations created');
        const window = () => `from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 3_600_000).toISOString()}`;
        const total = async (org: { apiKey: string }, meter: string) => (JSON.parse((await call(port, 'GET', `/v1/usage/summary?meter=${meter}&${window()}`, org.apiKey)).body) as { total?: number }).total ?? 0;

        // A warm-up, not measured: WARM_UP batches per organization through the same path, all counted before the
        // probes and the measured load start (freshly started processes compile their hot paths under the first load).
        await Promise.all(
          orgs.flatMap((org, o) =>
            Array.from({ length: WARM_UP }, async (_, w) => {
              const body = JSON.stringify(Array.from({ length: BATCH }, (__, i) => ({ id: `w${o}-${w}-${i}`, type: 'hit', projectId: org.project, data: {} })));
              const res = await call(port, 'POST', '/v1/usage/events', org.apiKey, body);
              if (res.status !== 200) throw new Error(`warm-up batch ${o}/${w}: ${res.status} ${res.body}`);
            }),
          ),
        );
        for (const org of orgs) {
          for (const until = Date.now() + 120_000; (await total(org, 'hits')) < WARM_UP * BATCH; await new Promise((r) => setTimeout(r, 50))) {
            if (Date.now() > until) throw new Error('the warm-up was not counted after two minutes');
          }
        }

        step('warm-up counted');

        // Probes while the load runs: one event every 100 ms, polled every 10 ms until the summary shows it. A poll
        // starts every 10 ms whether or not the one before has answered (under this load an answer takes longer than
        // that): waiting for each answer first would add up to a whole answer's time to what is measured.
        const showing = (org: { apiKey: string }, count: number) =>
          new Promise<void>((resolve, reject) => {
            let inFlight = 0;
            let done = false;
            const poll = () => {
              if (done || inFlight >= 8) return;
              inFlight += 1;
              total(org, 'probes').then(
                (n) => {
                  inFlight -= 1;
                  if (n >= count && !done) {
                    done = true;
                    clearInterval(timer);
                    resolve();
                  }
                },
                (err: unknown) => {
                  done = true;
                  clearInterval(timer);
                  reject(err as Error);
                },
              );
            };
            const timer = setInterval(() => {
              if (Date.now() - from < 60_000) return poll();
              done = true;
              clearInterval(timer);
              reject(new Error(`a probe of ${count} events was not in the summary after a minute`));
            }, 10);
            const from = Date.now();
            poll();
          });
        const visibility: number[] = [];
        let probing = true;
        const probes = (async () => {
          for (let k = 0; probing; k++) {
            const org = orgs[k % orgs.length]!;
            const res = await call(port, 'POST', '/v1/usage/events', org.apiKey, JSON.stringify({ id: `probe-${k}`, type: 'probe', projectId: org.project, data: {} }));
            const accepted = performance.now();
            if (res.status !== 200) throw new Error(`probe ${k}: ${res.status} ${res.body}`);
            const seen = Math.floor(k / orgs.length) + 1;
            await showing(org, seen);
            visibility.push(performance.now() - accepted);
            await new Promise((r) => setTimeout(r, 100));
          }
        })();

        let next = 0;
        let accepted = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            for (let b = next++; b < events / BATCH; b = next++) {
              const org = orgs[b % orgs.length]!;
              const body = JSON.stringify(Array.from({ length: BATCH }, (_, i) => ({ id: `b${b}-${i}`, type: 'hit', projectId: org.project, data: {} })));
              const res = await call(port, 'POST', '/v1/usage/events', org.apiKey, body);
              if (res.status !== 200) throw new Error(`batch ${b}: ${res.status} ${res.body}`);
              accepted += (JSON.parse(res.body) as { accepted: number }).accepted;
            }
          }),
        );
        const rate = accepted / ((performance.now() - started) / 1000);
        step('load accepted');
        probing = false;
        await probes;
        step('probes done');
        if (accepted !== events) throw new Error(`accepted ${accepted} of ${events}`);
        // Every accepted event counted once, in every organization's summary.
        const drainFrom = performance.now();
        for (const [i, org] of orgs.entries()) {
          const expected = Math.ceil((events / BATCH - i) / orgs.length) * BATCH + WARM_UP * BATCH;
          for (const until = Date.now() + 300_000; (await total(org, 'hits')) !== expected; await new Promise((r) => setTimeout(r, 50))) {
            if (Date.now() > until) throw new Error(`organization ${i}: ${await total(org, 'hits')} of ${expected} events counted`);
          }
        }
        const drainMs = performance.now() - drainFrom;
        step('every event counted');
        visibility.sort((a, b) => a - b);
        figures.push({
          name: `distributed usage ingest through the gateway, ${processes} usage process${processes > 1 ? 'es' : ''}`,
          value: rate,
          unit: 'events/s',
          baseline,
          target: { min: 20_000 },
          detail: `${events} events in batches of ${BATCH}, ${CLIENTS} clients, ${ORGANIZATIONS} organizations, after a warm-up of ${WARM_UP * ORGANIZATIONS} batches not measured; gateway and usage processes, PostgreSQL and the Kafka broker all on this 2-core machine; durable and deduplicated; every event counted once, ${Math.round(drainMs)} ms after the last was accepted; baseline: PostgreSQL alone storing each batch's row and claims, ${CLIENTS} connections; anchor: Lago publishes 10,000 events/s on PostgreSQL`,
        });
        figures.push({
          name: `distributed: accepted event visible in the summary, p99 under that load, ${processes} usage process${processes > 1 ? 'es' : ''}`,
          value: percentile(visibility, 99),
          unit: 'ms',
          target: { max: 1_000 },
          detail: `${visibility.length} probes (relay → Kafka → rollups in the usage process holding the organization's partition → summary; polled every 10 ms, up to 8 polls at once); p50 ${percentile(visibility, 50).toFixed(1)} ms; Lago publishes < 2 s p99`,
        });
      } finally {
        await Promise.all(running.map((p) => stopProcess(p)));
        step('processes stopped');
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  } finally {
    await broker.stop();
    say('broker stopped');
    await cluster.stop();
    say('PostgreSQL stopped');
  }
  return figures;
}
