import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresEventStore, PostgresReadStore } from '@curbmap/eventsourcing';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/infra';
import { installProblemErrors } from './problemErrors.ts';
import { markingWrites } from './requestWrites.ts';

// A real PostgreSQL (a private cluster), stopped under a running service: what its driver raises then is what
// the answer is made of.
const unavailable = postgresUnavailable();
const clusters: PrivateCluster[] = [];
afterAll(async () => {
  for (const c of clusters) await c.stop().catch(() => undefined);
});

/** A service on its own cluster; `POST /things` appends, then reads after the cluster is stopped under it. */
async function service() {
  const cluster = await startPrivateCluster();
  clusters.push(cluster);
  const { url } = await createDatabase(cluster.url);
  const [store, readStore] = [markingWrites(await PostgresEventStore.open(url)), await PostgresReadStore.open(url)];
  const app = Fastify();
  installProblemErrors(app);
  app.get('/things/:id', async (request) => (await readStore.get('things', (request.params as { id: string }).id)) ?? { id: null });
  const append = () => store.append(`things-${randomUUID()}`, [{ id: randomUUID(), type: 'thing.made', occurredAt: new Date().toISOString(), organizationId: 'org-1', data: {} }], { expectedVersion: 'no_stream' });
  const appendThenLose = async () => {
    await append();
    await cluster.stop();
    return readStore.get('things', 'a');
  };
  app.post('/things', appendThenLose);
  // One that names its own effect (as a Stripe event its id): sent again, it cannot do it twice.
  app.post('/replay-safe', { config: { replaySafe: true } }, appendThenLose);
  // One whose append finds the store already gone: it never connected, so it wrote nothing.
  app.post('/refused', async () => {
    await cluster.stop();
    await new Promise((r) => setTimeout(r, 300)); // the pool drops its idle connections the server closed
    return append();
  });
  return { cluster, app, close: async () => (await app.close(), await store.close().catch(() => undefined), await readStore.close().catch(() => undefined)) };
}

describe.skipIf(unavailable)('a request whose store is out of reach', () => {
  it('answers 503 problem+json with Retry-After (the client retries), not 500', async () => {
    const { cluster, app, close } = await service();
    try {
      expect((await app.inject({ method: 'GET', url: '/things/a' })).statusCode).toBe(200);
      await cluster.stop();
      const answer = await app.inject({ method: 'GET', url: '/things/a' });
      expect(answer.statusCode).toBe(503);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.json()).toMatchObject({ status: 503, code: 'unavailable' });
    } finally {
      await close();
    }
  });

  it('after it appended, does not invite a retry without an Idempotency-Key (its write may stand): 500 outcome_unknown; with a key, for a request that names its effect, or when the append never connected, 503', async () => {
    const bare = await service();
    try {
      const answer = await bare.app.inject({ method: 'POST', url: '/things' });
      expect(answer.statusCode).toBe(500);
      expect(answer.headers['retry-after']).toBeUndefined();
      expect(answer.json()).toMatchObject({ status: 500, code: 'outcome_unknown' });
    } finally {
      await bare.close();
    }
    // With a key, a request that names its own effect, or an append that never connected: a retry is safe (503).
    for (const [url, headers] of [['/things', { 'idempotency-key': 'k-1' }], ['/replay-safe', {}], ['/refused', {}]] as const) {
      const other = await service();
      try {
        const answer = await other.app.inject({ method: 'POST', url, headers });
        expect([answer.statusCode, answer.headers['retry-after']], url).toEqual([503, '1']);
      } finally {
        await other.close();
      }
    }
  });
});

if (unavailable) describe('a request whose store is out of reach', () => it.skip(`skipped: ${unavailable}`, () => {}));
