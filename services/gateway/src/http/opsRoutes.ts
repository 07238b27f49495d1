import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface Readiness {
  /** Named checks: each true when that part can serve. */
  check(): Promise<Record<string, boolean>>;
  /** Extra metrics of the platform (subscription lag…), registered once. */
  registerMetrics?(registry: Registry): void;
}

const opsTags = ['operations'];

export function registerOpsRoutes(app: FastifyInstance, readiness: Readiness): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  readiness.registerMetrics?.(registry);
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    duration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.get('/healthz', {
    config: { auth: 'public' },
    logLevel: 'warn',
    schema: { summary: 'Liveness: the process answers', tags: opsTags, response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } },
    handler: async () => ({ status: 'ok' }),
  });

  app.get('/readyz', {
    config: { auth: 'public' },
    logLevel: 'warn',
    schema: {
      summary: 'Readiness: storage open and every subscription (read models and processes) caught up',
      tags: opsTags,
      response: {
        200: { type: 'object', properties: { status: { type: 'string' }, checks: { type: 'object', additionalProperties: { type: 'boolean' } } } },
        503: { type: 'object', properties: { status: { type: 'string' }, checks: { type: 'object', additionalProperties: { type: 'boolean' } } } },
      },
    },
    handler: async (_request, reply) => {
      const checks = await readiness.check();
      const ready = Object.values(checks).every(Boolean);
      reply.code(ready ? 200 : 503);
      return { status: ready ? 'ready' : 'not_ready', checks };
    },
  });

  app.get('/metrics', {
    config: { auth: 'admin' },
    logLevel: 'warn',
    schema: { summary: 'Prometheus metrics (admin token: scrape with a bearer token)', tags: opsTags, security: [{ adminToken: [] }], produces: ['text/plain'], response: { 200: { type: 'string' } } },
    handler: async (_request, reply) => {
      reply.type(registry.contentType);
      return registry.metrics();
    },
  });
}
