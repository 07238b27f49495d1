import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, freePort, kafkaUnavailable, postgresUnavailable, startPrivateBroker, startPrivateCluster, type PrivateBroker, type PrivateCluster } from '@curbmap/infra';
import { killHard } from '@curbmap/testing/processes';
import { ADMIN, start, type Started } from './processes.fixture.ts';

// Several processes per service on the real broker and PostgreSQL: members of one consumer group share its
// partitions, each partition's checkpoint is its own fenced row. Two rebalances under continuous load: one usage
// and one billing process killed with SIGKILL, a third usage process added. Nothing here is a mock.
const unavailable = postgresUnavailable() ?? kafkaUnavailable();
const LISTENING = /curbmap service listening at (\S+)/;

if (unavailable) {
  describe('several processes per service', () => {
    it.skip(`skipped: ${unavailable}`, () => {});
  });
} else {
  describe('several processes per service (PostgreSQL, Kafka)', () => {
    let cluster: PrivateCluster;
    let broker: PrivateBroker;
    let databaseUrl = '';
    let dataDir = '';
    let env: Record<string, string>;
    const processes: Record<string, Started | null> = {};
    const usagePorts: number[] = [];
    let gateway: Started | null = null;

    beforeAll(async () => {
      [cluster, broker] = await Promise.all([startPrivateCluster(), startPrivateBroker()]);
      dataDir = mkdtempSync(join(tmpdir(), 'curbmap-scale-out-'));
      databaseUrl = (await createDatabase(cluster.url)).url;
      env = { DATABASE_URL: databaseUrl, KAFKA_BROKERS: broker.brokers.join(','), CURBMAP_INTERNAL_SECRET: randomBytes(32).toString('hex'), CURBMAP_DATA_DIR: dataDir, KAFKA_PARTITIONS: '6' };
      // The third usage process is known to the gateway from the start and started later: until then it fails its health check.
      for (let i = 0; i < 3; i++) usagePorts.push(await freePort());
      // Each recorded as it comes up: one that fails to start must not leave the others running after the suite.
      const starting: [string, string, string][] = [
        ['usage1', 'usage', String(usagePorts[0])],
        ['usage2', 'usage', String(usagePorts[1])],
        ['billing1', 'billing', '0'],
        ['billing2', 'billing', '0'],
        ['invoice', 'invoice', '0'],
        ['export', 'export', '0'],
      ];
      const results = await Promise.allSettled(starting.map(async ([name, service, port]) => (processes[name] = await start(`services/${service}/src/main.ts`, { ...env, PORT: port }, LISTENING))));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const urls = [...usagePorts.map((port) => `usage=http://127.0.0.1:${port}`), `billing=${processes['billing1']!.url}`, `billing=${processes['billing2']!.url}`, `invoice=${processes['invoice']!.url}`, `export=${processes['export']!.url}`];
      gateway = await start('services/gateway/src/main.ts', { ...env, PORT: '0', HOST: '127.0.0.1', CURBMAP_ADMIN_TOKEN: ADMIN, SERVICE_URLS: urls.join(',') }, /CurbMap is running at (\S+)/);
    }, 400_000);
    afterAll(async () => {
      // Nothing of theirs is looked at after the test: killed, not shut down one by one (each leaves its group).
      await Promise.all([killHard(gateway), ...Object.values(processes).map(killHard)]);
      await broker?.stop();
      await cluster?.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    }, 180_000);

    const call = async (method: string, path: string, token: string, body?: unknown) => {
      const res = await fetch(new URL(path, gateway!.url), { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
    };
    /** As a client does: sent again (same ids, same Idempotency-Key) until answered, through 503s and lost answers. */
    const untilAnswered = async (send: () => Promise<{ status: number; text: string }>, ok: number[]) => {
      for (const until = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 200))) {
        const answer = await send().catch(() => ({ status: 0, text: 'connection failed' }));
        if (ok.includes(answer.status)) return answer;
        if (Date.now() > until) throw new Error(`not answered: ${answer.status} ${answer.text}`);
      }
    };

    it('three usage and two billing processes, one of each killed and a usage process added under load: every event counted once, every invoice issued and paid once', async () => {
      const orgs: { id: string; apiKey: string; project: string }[] = [];
      for (let i = 0; i < 6; i++) {
        // 202 while a group is still rebalancing (billing's customers read model lags): the key is in the answer all the same.
        const created = await call('POST', '/v1/organizations', ADMIN, { name: `Town ${i}`, billingEmail: `ap@town${i}.example`, timeZone: 'America/Chicago' });
        expect([201, 202], created.text).toContain(created.status);
        const org = created.json() as { id: string; apiKey: string };
        const projected = await call('POST', '/v1/projects', org.apiKey, { name: 'Main' });
        expect([201, 202], projected.text).toContain(projected.status);
        // The meter is the usage service's: a process that lags on the usage directory answers 202 (then it exists).
        const project = projected.json()['id'] as string;
        const meter = await call('POST', '/v1/meters', org.apiKey, { key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' });
        expect([201, 202], meter.text).toContain(meter.status);
        const subscribed = await call('POST', '/v1/subscription', org.apiKey, { planId: 'city', seats: 1 });
        expect([201, 202], subscribed.text).toContain(subscribed.status);
        orgs.push({ ...org, project });
      }

      const acknowledged = new Map<string, Set<string>>(orgs.map((o) => [o.id, new Set()]));
      for (let round = 0; round < 36; round++) {
        const org = orgs[round % orgs.length]!;
        const events = Array.from({ length: 40 }, (_, i) => ({ id: `r${round}-${i}`, type: 'hit', projectId: org.project, data: {} }));
        await untilAnswered(() => call('POST', '/v1/usage/events', org.apiKey, events), [200, 202]);
        for (const e of events) acknowledged.get(org.id)!.add(e.id);
        // First rebalance: a usage and a billing process die mid-stream, their partitions go to the others.
        if (round === 8) await Promise.all([killHard(processes['usage1']!), killHard(processes['billing1']!)]);
        // Second: a third usage process joins and takes a share of the partitions.
        if (round === 20) processes['usage3'] = await start('services/usage/src/main.ts', { ...env, PORT: String(usagePorts[2]) }, LISTENING);
      }

      const window = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`;
      for (const org of orgs) {
        await expect.poll(async () => (await call('GET', `/v1/usage/summary?meter=hits&${window}`, org.apiKey)).json()['total'], { timeout: 90_000, interval: 500 }).toBe(acknowledged.get(org.id)!.size);
      }

      // Billing's process managers across the rebalance: each activation invoiced once, each payment applied once.
      for (const org of orgs) {
        const invoices = async () => (await call('GET', '/v1/invoices', org.apiKey)).json()['data'] as { id: string; total: number; status: string }[];
        await expect.poll(async () => (await invoices()).length, { timeout: 60_000, interval: 500 }).toBe(1);
        const [invoice] = await invoices();
        // Paid with 100 too many (the over-payment is credit), under one Idempotency-Key however often it is sent.
        const pay = () => fetch(new URL(`/v1/admin/invoices/${invoice!.id}/payments`, gateway!.url), {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'idempotency-key': `pay-${invoice!.id}` },
          body: JSON.stringify({ amount: invoice!.total + 100, currency: 'USD', reference: `WIRE-${org.id}`, receivedAt: new Date().toISOString() }),
        }).then(async (r) => ({ status: r.status, text: await r.text() }));
        await untilAnswered(pay, [201]);
        await expect.poll(async () => (await invoices()).map((i) => i.status), { timeout: 60_000, interval: 500 }).toEqual(['paid']);
        await expect.poll(async () => (await call('GET', '/v1/credit-balance', org.apiKey)).json(), { timeout: 60_000, interval: 500 }).toEqual({ balances: { USD: 100 } });
      }
      expect((await call('GET', '/v1/admin/dead-letters', ADMIN)).json()['data']).toEqual([]);

      // Each partition's checkpoint is a row of its own; the rollups' rows were written by more than one process.
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      try {
        const { rows } = await db.query<{ name: string; fence: string }>("SELECT name, fence::text FROM checkpoints WHERE name LIKE 'usage.rollups%@%'");
        expect(rows.length).toBeGreaterThan(1);
        // Taken again at each rebalance: fences moved past 1.
        expect(rows.some((r) => Number(r.fence) > 1)).toBe(true);
      } finally {
        await db.end();
      }
    }, 400_000);
  });
}
