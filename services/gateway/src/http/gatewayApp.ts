import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { addCurbmapFormats } from '@curbmap/contracts';
import { forbidden, NotYetVisibleError, problemSchema, roleAtLeast, toProblem, unauthorized, type ServiceContext, type ServiceModule } from '@curbmap/service-kit';
import { hashApiKey } from '../application/apiKeySecrets.ts';
import { tenancyCollections, type ApiKeyLookup } from '../projections/tenancyProjection.ts';
import { registerIdempotency } from './idempotency.ts';
import { registerDeadLetterRoutes } from './deadLetterRoutes.ts';
import { registerOpsRoutes, type Readiness } from './opsRoutes.ts';
import { tenancySchemas } from './tenancySchemas.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Deletes Idempotency-Key records older than 24 h (also run hourly); returns how many. */
    purgeIdempotencyRecords(): Promise<number>;
  }
}

export interface GatewayOptions {
  ctx: ServiceContext;
  modules: ServiceModule[];
  logger: Logger;
  adminToken: string;
  rateLimitPerMinute: number;
  readiness: Readiness;
}

function bearer(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match ? match[1]! : null;
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** The one public HTTP server: auth, tenancy scoping, problem errors, docs, metrics; services bring routes. */
export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const { ctx, logger } = options;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { allErrors: true, removeAdditional: false }, plugins: [addCurbmapFormats] },
    bodyLimit: 5 * 1024 * 1024,
  });

  app.decorateRequest('auth', null);
  app.decorateRequest('commandId', '');
  app.addSchema(problemSchema);
  for (const schema of tenancySchemas) app.addSchema(schema);

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof NotYetVisibleError) {
      const location = request.routeOptions.config?.pollLocation ?? request.url.split('?')[0]!;
      request.log.warn({ err }, 'answered 202: a read model lags behind the committed write');
      return reply.code(202).header('location', location).header('retry-after', '1').serializer(JSON.stringify).send({ status: 'accepted', detail: err.message, location });
    }
    const problem = toProblem(err);
    if (problem.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: problem.code, status: problem.status }, problem.detail);
    reply
      .code(problem.status)
      .type('application/problem+json')
      .serializer(JSON.stringify)
      .send({ ...problem, instance: request.url, requestId: String(request.id) });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).type('application/problem+json').serializer(JSON.stringify).send({
      ...toProblem(Object.assign(new Error(`no route ${request.method} ${request.url.split('?')[0]}`), { statusCode: 404, code: 'not_found' })),
      instance: request.url,
      requestId: String(request.id),
    });
  });
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', String(request.id));
    return payload;
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'CurbMap Billing & Export API', version: '1.0.0', description: 'Organizations, projects, API keys, billing, usage, exports and invoices.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An organization API key (cmk_…)' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'The platform admin token' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(rateLimit, {
    max: options.rateLimitPerMinute,
    timeWindow: '1 minute',
    // Per key: the token's hash, so no lookup is needed; requests without a key are limited per address.
    keyGenerator: (request) => {
      const token = bearer(request.headers.authorization);
      return token ? hashApiKey(token) : request.ip;
    },
    errorResponseBuilder: (_request, context) =>
      Object.assign(new Error(`rate limit of ${context.max} requests per ${context.after} exceeded; retry in ${context.after}`), { statusCode: 429 }),
  });

  app.addHook('onRequest', async (request) => {
    const mode = request.routeOptions.config?.auth ?? 'public';
    if (mode === 'public') return;
    const token = bearer(request.headers.authorization);
    if (!token) throw unauthorized();
    if (mode === 'admin') {
      if (!sameSecret(token, options.adminToken)) throw unauthorized('this route needs the platform admin token');
      request.auth = { kind: 'admin' };
      return;
    }
    const key = await ctx.readStore.get<ApiKeyLookup>(tenancyCollections.apiKeyLookup, hashApiKey(token));
    if (!key) throw unauthorized('unknown API key');
    if (key.revoked) throw unauthorized('this API key has been revoked');
    const role = key.role as Parameters<typeof roleAtLeast>[0];
    request.auth = { kind: 'key', organizationId: key.organizationId, keyId: key.keyId, role, projectId: key.projectId };
    request.log = request.log.child({ organizationId: key.organizationId, keyId: key.keyId });
    const minRole = request.routeOptions.config?.minRole ?? 'read_only';
    if (!roleAtLeast(role, minRole)) throw forbidden(`this action needs the ${minRole} role or higher; this key has ${role}`);
  });

  const idempotency = registerIdempotency(app, ctx.readStore, ctx.now);
  app.decorate('purgeIdempotencyRecords', idempotency.purge);
  registerOpsRoutes(app, options.readiness);
  registerDeadLetterRoutes(app, ctx);
  for (const module of options.modules) await module.routes?.(app, ctx);
  return app;
}
