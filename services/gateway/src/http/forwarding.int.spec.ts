import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installProblemErrors, type ServiceContext, type ServiceModule } from '@curbmap/service-kit';
import { forwardedRoutes } from './forwarding.ts';
import { RemoteService } from './remoteService.ts';

// A service process that passes its health check, takes a request and dies under it (its socket reset after
// reading), and one not there.
let dying: HttpServer;
let app: FastifyInstance;
const urls: Record<string, string> = {};

beforeAll(async () => {
  dying = createHttpServer((request, response) => (request.url === '/healthz' ? response.end(JSON.stringify({ status: 'ok', instance: 'dying-1' })) : request.socket.resetAndDestroy()));
  await new Promise<void>((resolve) => dying.listen(0, '127.0.0.1', resolve));
  urls['dying'] = `http://127.0.0.1:${(dying.address() as { port: number }).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  urls['down'] = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
  await new Promise((resolve) => closed.close(resolve));
  app = Fastify();
  installProblemErrors(app);
  for (const which of ['dying', 'down']) {
    const module = { name: which, contracts: [], projections: [], routes: async (scope) => void scope.route({ method: ['GET', 'POST'], url: `/v1/${which}`, handler: async () => ({}) }) } as ServiceModule;
    await app.register(forwardedRoutes(module, {} as ServiceContext, new RemoteService(which, [urls[which]!], { secret: 'a-shared-secret-of-at-least-32-characters' })));
  }
});
afterAll(async () => {
  await app.close();
  await new Promise((resolve) => dying.close(resolve));
});

describe('a request the gateway forwards to a service that is not there to answer', () => {
  it('is 503 with Retry-After when a retry is safe: never sent (connection refused), a read, or sent with an Idempotency-Key', async () => {
    for (const [method, url, headers] of [['POST', '/v1/down', {}], ['GET', '/v1/dying', {}], ['POST', '/v1/dying', { 'idempotency-key': 'k-1' }]] as const) {
      const answer = await app.inject({ method, url, headers, ...(method === 'POST' ? { payload: {} } : {}) });
      expect([answer.statusCode, answer.headers['retry-after'], answer.json().code], `${method} ${url}`).toEqual([503, '1', 'service_unavailable']);
    }
  });

  it('is 500 outcome_unknown for a command without an Idempotency-Key the service took and then went away under: it may have taken effect', async () => {
    const answer = await app.inject({ method: 'POST', url: '/v1/dying', payload: {} });
    expect([answer.statusCode, answer.headers['retry-after'], answer.json().code]).toEqual([500, undefined, 'outcome_unknown']);
  });
});
