import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { HttpError, installProblemErrors, installRequestValidation, problemResponses, problemSchema, type RouteAuth, type ServiceContext, type ServiceModule } from '@curbmap/service-kit';
import { installAuthentication, presentedBy } from './authentication.ts';
import { PortalSigner } from '../application/portalSessions.ts';
import { registerPortalRoutes } from './portalRoutes.ts';
import { registerWebAppRoutes } from './webAppRoutes.ts';
import { registerIdempotency } from './idempotency.ts';
import { clientErrorHandler, frameworkErrors, installProtocolRules } from './protocolErrors.ts';
import { registerDeadLetterRoutes } from './deadLetterRoutes.ts';
import { registerOpsRoutes, type Readiness } from './opsRoutes.ts';
import { forwardedRoutes } from './forwarding.ts';
import type { RemoteService } from './remoteService.ts';
import { tenancySchemas } from './tenancySchemas.ts';

export interface RouteEntry {
  method: string;
  url: string;
  auth: RouteAuth;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with how it is protected (a test lists the public ones). */
    routeTable: RouteEntry[];
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
  /** Failed authentications per client address per minute (RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE). */
  unauthenticatedPerMinute: number;
  readiness: Readiness;
  /** Signs dashboard links and session cookies (generated into the data directory when not configured). */
  portalSecret: string;
  /** PUBLIC_URL: the base of portal links (default http://localhost:8080; never the request's Host header). */
  publicUrl?: string | null;
  /** TRUST_PROXY (see Config): fastify's trustProxy. */
  trustProxy?: boolean | number | string[];
  /** Services running in their own processes (distributed mode): their routes are forwarded there. */
  remoteServices?: Record<string, RemoteService>;
}

/**
 * A path parameter may be as long as the longest id the API accepts (usage event ids: 200 characters), each
 * character percent-encoded as up to 4 UTF-8 bytes: fastify's default of 100 answered 414 for ids the API took.
 */
export const MAX_PARAM_LENGTH = 200 * 12;

/**
 * What every route may answer besides its own outcomes, said in its documented responses (the OpenAPI document
 * says what the server does): 400 (a malformed URL or input), 401 unless public, 414 (a URL too long), 429 (rate
 * limits), 503 with Retry-After (a store or service out of reach for a moment), for a body 413 (too large) and
 * 415 (a media type it does not take), and for a paged list 422.
 */
function documentEdgeAnswers(route: { url: string; method: string | string[]; schema?: Record<string, unknown>; config?: { auth?: RouteAuth } }): void {
  const schema = route.schema;
  if (!schema || (schema as { hide?: boolean }).hide || route.url.startsWith('/docs')) return;
  const response = (schema['response'] ?? {}) as Record<string, unknown>;
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  // A page cursor the document calls an opaque string: one the server never gave is well-formed and unusable.
  const paged = Boolean(((schema['querystring'] as { properties?: Record<string, unknown> } | undefined)?.properties ?? {})['cursor']);
  const edge = [400, 414, 429, 503, ...(route.config?.auth === 'public' ? [] : [401]), ...(methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH') ? [413, 415] : []), ...(paged ? [422] : [])];
  schema['response'] = { ...problemResponses(...edge.filter((s) => !(s in response))), ...response };
}

/** A number of proxy hops, as fastify takes it (its types name a function for it). */
const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops;

/** The one public HTTP server: auth, tenancy scoping, problem errors, docs, metrics; services bring routes. */
export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const { ctx, logger } = options;
  const portal = new PortalSigner(options.portalSecret);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    bodyLimit: 5 * 1024 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A portal link's URL carries a live sign-in token: its requests are not logged (their responses still are).
    disableRequestLogging: (req: { url?: string }) => req.url?.startsWith('/portal/enter') ?? false,
    // Behind a TLS proxy: request.ip is the client's (the failed-authentication limit is per client, not per
    // proxy) and request.protocol https (session cookies are Secure).
    trustProxy: typeof options.trustProxy === 'number' ? trustHops(options.trustProxy) : (options.trustProxy ?? false),
    clientErrorHandler,
    frameworkErrors,
  });
  installRequestValidation(app);
  const protocol = installProtocolRules(app);
  const routeTable: RouteEntry[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    // The API documentation is public; swagger-ui's routes do not say so themselves.
    if (route.url === '/docs' || route.url.startsWith('/docs/')) route.config = { ...route.config, auth: 'public' };
    documentEdgeAnswers(route as unknown as Parameters<typeof documentEdgeAnswers>[0]);
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routeTable.push({ method, url: route.url, auth: route.config?.auth ?? 'key' });
  });

  app.decorateRequest('auth', null);
  app.decorateRequest('commandId', '');
  app.addSchema(problemSchema);
  for (const schema of tenancySchemas) app.addSchema(schema);

  installProblemErrors(app);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = protocol.methodsFor(path);
    if (allowed.length > 0) throw new HttpError(405, 'method_not_allowed', `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, undefined, { allow: allowed.join(', ') });
    throw new HttpError(404, 'not_found', `no route ${request.method} ${path}`);
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
    // RateLimit-Limit / -Remaining / -Reset (IETF draft) on every answer, Retry-After on a 429.
    enableDraftSpec: true,
    // Per key: the token's hash, so no lookup is needed; requests without a key are limited per address.
    keyGenerator: async (request) => {
      const credentials = presentedBy(request, portal, ctx.now);
      const hash = credentials.tokenHash();
      if (hash) return hash;
      // A dashboard session counts against its key's own bucket (the key's hash), as the key itself would: a
      // session does not double what a key may send.
      const grant = credentials.grant();
      if (grant) return (await credentials.grantKey(ctx.readStore))?.keyHash ?? `session:${grant.keyId}`;
      return request.ip;
    },
    errorResponseBuilder: (_request, context) =>
      Object.assign(new Error(`rate limit of ${context.max} requests per ${context.after} exceeded; retry in ${context.after}`), { statusCode: 429 }),
  });

  const failedAuth = installAuthentication(app, ctx, { adminToken: options.adminToken, unauthenticatedPerMinute: options.unauthenticatedPerMinute, portal });

  const idempotency = registerIdempotency(app, ctx.readStore, ctx.now);
  app.decorate('purgeIdempotencyRecords', idempotency.purge);
  registerOpsRoutes(app, options.readiness);
  registerDeadLetterRoutes(app, ctx, options.remoteServices ?? {});
  registerPortalRoutes(app, ctx, { signer: portal, publicUrl: options.publicUrl ?? null, failedAuth });
  registerWebAppRoutes(app);
  for (const module of options.modules) {
    await module.edge?.(app, ctx);
    const remote = options.remoteServices?.[module.name];
    if (remote) await app.register(forwardedRoutes(module, ctx, remote));
    else await module.routes?.(app, ctx);
  }
  return app;
}
