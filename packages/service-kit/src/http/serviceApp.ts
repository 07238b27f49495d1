import { createHash, randomUUID } from 'node:crypto';
import { PassThrough, pipeline } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DEAD_LETTERS, type DeadLetter, type StreamWrite, type Subscription } from '@curbmap/eventsourcing';
import { HttpError, problemSchema } from '../problem.ts';
import type { ServiceContext, ServiceModule } from '../serviceModule.ts';
import { bodyDigest, FRAMED_BODY, NonceLedger, verifyFrames, verifyPrincipal } from './internalAuth.ts';
import { installProblemErrors } from './problemErrors.ts';
import { installRequestValidation } from './requestValidation.ts';

export interface ServiceAppOptions {
  module: ServiceModule;
  ctx: ServiceContext;
  logger: Logger;
  /** CURBMAP_INTERNAL_SECRET, shared with the gateway. */
  internalSecret: string;
  /** This process's projections: the gateway waits on them for read-your-writes. */
  projections: Subscription[];
  ready(): Promise<boolean>;
}

/**
 * A service's own HTTP server in distributed mode: its module's routes, reached only through the gateway (which
 * authenticated the caller and signs what it decided), plus what the gateway asks of it: health, and whether
 * this service's read models show a write yet.
 */
const EMPTY = bodyDigest('');

export async function buildServiceApp(options: ServiceAppOptions): Promise<FastifyInstance> {
  const { module, ctx, internalSecret } = options;
  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger, bodyLimit: 5 * 1024 * 1024, routerOptions: { maxParamLength: 200 * 12 }, genReqId: (req) => (typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : crypto.randomUUID()) });
  installRequestValidation(app);
  installProblemErrors(app);
  app.decorateRequest('auth', null);
  app.decorateRequest('commandId', '');
  app.addSchema(problemSchema);
  // Who this process is until it stops: the gateway signs each request for one instance, whose nonces are known here only.
  const instance = randomUUID();
  const nonces = new NonceLedger();
  const signedBody = new WeakMap<object, { expected: string; actual: Promise<string> }>();
  const framedBody = new WeakMap<object, string>();
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0]!;
    if (path === '/healthz' || path === '/readyz') return;
    const principal = verifyPrincipal(request.headers, request.method, request.url, internalSecret, Date.now(), instance);
    nonces.take(principal.nonce, Date.now());
    request.auth = principal.auth;
    request.commandId = principal.commandId;
    // No body signed is an empty body: one attached on the way is refused like a changed one.
    if (principal.body === FRAMED_BODY) framedBody.set(request, principal.nonce);
    else signedBody.set(request, { expected: principal.body ?? EMPTY, actual: Promise.resolve(EMPTY) });
  });
  // The body as received is hashed while it is parsed, and must be the one the gateway signed; a streamed one
  // is read frame by frame, each checked before the route sees its bytes.
  app.addHook('preParsing', async (request, _reply, payload) => {
    const nonce = framedBody.get(request);
    if (nonce !== undefined) {
      // pipeline: an error on either side reaches the route reading the body, and none goes unhandled.
      return pipeline(payload, verifyFrames(internalSecret, nonce), () => undefined);
    }
    const signed = signedBody.get(request);
    if (!signed) return payload;
    const hash = createHash('sha256');
    const tee = new PassThrough();
    signed.actual = new Promise((resolve, reject) => {
      tee.on('end', () => resolve(hash.digest('hex')));
      tee.on('error', reject);
    });
    payload.on('data', (chunk: Buffer) => hash.update(chunk));
    return payload.pipe(tee);
  });
  app.addHook('preValidation', async (request) => {
    const signed = signedBody.get(request);
    // Nothing parsed (no body, or none fastify reads without a content type): what was received is empty.
    const actual = signed ? (request.body === undefined ? EMPTY : await signed.actual) : null;
    if (signed && actual !== signed.expected) throw new HttpError(401, 'unauthenticated', 'the forwarded body is not the one the gateway signed');
  });
  app.get('/healthz', { config: { auth: 'public' } }, async () => ({ status: 'ok', service: module.name, instance }));
  app.get('/readyz', { config: { auth: 'public' } }, async (_request, reply) => {
    const ready = await options.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'starting', service: module.name, instance });
  });
  // The gateway's read-your-writes: does every projection here that takes this write show it (within the timeout)?
  app.post<{ Body: StreamWrite & { timeoutMs?: number } }>('/internal/read-your-writes', async (request, reply) => {
    const { timeoutMs = 3000, ...write } = request.body;
    const lagging: string[] = [];
    await Promise.all(options.projections.map((p) => p.waitForWrite(write, Math.min(timeoutMs, 10_000)).catch(() => void lagging.push(p.name))));
    return reply.code(lagging.length ? 409 : 200).send({ lagging });
  });
  // The operator's retry of a dead letter one of this process's subscriptions parked (the gateway forwards it).
  app.post<{ Params: { id: string } }>('/internal/dead-letters/:id/retry', async (request, reply) => {
    if (request.auth?.kind !== 'admin') throw new HttpError(403, 'forbidden', 'a dead letter is retried by the platform operator');
    const deadLetter = await ctx.readStore.get<DeadLetter & { [k: string]: unknown }>(DEAD_LETTERS, request.params.id);
    if (!deadLetter) throw new HttpError(404, 'not_found', 'dead letter not found');
    const subscription = ctx.subscriptions.list().find((s) => s.name === deadLetter.subscription);
    if (!subscription) throw new HttpError(409, 'subscription_not_running', `subscription ${deadLetter.subscription} is not running in the ${module.name} process`);
    try {
      await subscription.retry(deadLetter);
    } catch (err) {
      throw new HttpError(409, 'retry_failed', `the handler failed again: ${err instanceof Error ? err.message : String(err)}`);
    }
    return reply.send(await ctx.readStore.get(DEAD_LETTERS, deadLetter.id));
  });
  app.setNotFoundHandler((request) => {
    throw new HttpError(404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`);
  });
  await module.routes?.(app, ctx);
  return app;
}
