import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresReadStore } from '@curbmap/eventsourcing';
import { createDatabase, postgresUnavailable, startPrivateCluster, type PrivateCluster } from '@curbmap/testing/postgres';
import { installProblemErrors } from './problemErrors.ts';

// A real PostgreSQL (a private cluster), stopped under a running service: what its driver raises then is what
// the answer is made of.
const unavailable = postgresUnavailable();
let cluster: PrivateCluster | null = null;
afterAll(async () => {
  await cluster?.stop().catch(() => undefined);
});

describe.skipIf(unavailable)('a request whose store is out of reach', () => {
  it('answers 503 problem+json with Retry-After (the client retries), not 500', async () => {
    cluster = await startPrivateCluster();
    const readStore = await PostgresReadStore.open((await createDatabase(cluster.url)).url);
    const app = Fastify();
    installProblemErrors(app);
    app.get('/things/:id', async (request) => (await readStore.get('things', (request.params as { id: string }).id)) ?? { id: null });
    try {
      expect((await app.inject({ method: 'GET', url: '/things/a' })).statusCode).toBe(200);
      await cluster.stop();
      const answer = await app.inject({ method: 'GET', url: '/things/a' });
      expect(answer.statusCode).toBe(503);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.json()).toMatchObject({ status: 503, code: 'unavailable' });
    } finally {
      await app.close();
      await readStore.close().catch(() => undefined);
    }
  });
});

if (unavailable) describe('a request whose store is out of reach', () => it.skip(`skipped: ${unavailable}`, () => {}));
