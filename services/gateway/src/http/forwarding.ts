import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { bodyDigest, FRAMED_BODY, HttpError, installRequestValidation, signFrames, signPrincipal, WRONG_INSTANCE, type AuthContext, type ServiceContext, type ServiceModule } from '@curbmap/service-kit';
import { refusedConnection, type RemoteService, type ServiceProcess } from './remoteService.ts';

// Not forwarded: hop-by-hop headers, and the caller's credentials (they stay at the edge; the service gets the decision).
const DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'te', 'trailer', 'upgrade', 'host', 'authorization', 'cookie', 'proxy-authorization']);

/**
 * A service's routes declared at the gateway exactly as the service declares them (schemas, roles, rate limits,
 * idempotency and the API docs stay here), each handler replaced by a call to the service's process carrying the
 * gateway's signed decision (who calls, the command's id). The answer streams back as the service gave it.
 */
export function forwardedRoutes(module: ServiceModule, ctx: ServiceContext, remote: RemoteService): FastifyPluginAsync {
  return async (scope) => {
    // This scope's routes validate as the gateway's do (a scope with schemas of its own gets Fastify's default compiler).
    installRequestValidation(scope);
    scope.addHook('onRoute', (route) => {
      route.handler = (request, reply) => forward(module.name, remote, request, reply);
    });
    await module.routes?.(scope, ctx);
  };
}

/**
 * A call of the gateway's own to a service's internal route, signed as forwarded requests are (body digest, nonce,
 * the process it is for), sent to one of its healthy processes (sendToSomeProcess). Rejects when none answers.
 */
export async function postInternal(remote: RemoteService, url: string, options: { auth: AuthContext | null; body?: string; timeoutMs: number }): Promise<Response> {
  const answer = await sendToSomeProcess(remote, (process) => {
    const principal = { auth: options.auth, commandId: '', at: Date.now(), nonce: randomUUID(), body: options.body === undefined ? null : bodyDigest(options.body), audience: process.instance! };
    return fetch(new URL(url, process.url), {
      method: 'POST',
      headers: { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...signPrincipal(principal, 'POST', url, remote.secret) },
      ...(options.body === undefined ? {} : { body: options.body }),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  });
  if (!answer) throw new Error(`no process of the ${remote.name} service is answering`);
  return answer;
}

/**
 * Sends a request to the service's processes in turn until one takes it: a process that refuses the connection is
 * out of the rotation and the next is tried; one restarted since the gateway last asked (it refuses a request
 * signed for its former instance, unread) is asked who it is now, once, and sent the request again. With `once`
 * (a streamed body, read in part by the first attempt) there is no second attempt. Null when no process took it;
 * any other failure of `send` is the caller's.
 */
async function sendToSomeProcess(remote: RemoteService, send: (process: ServiceProcess) => Promise<Response>, options: { once?: boolean } = {}): Promise<Response | null> {
  const tried = new Set<ServiceProcess>();
  const askedAgain = new Set<ServiceProcess>();
  for (let attempt = 0; attempt === 0 || !options.once; attempt++) {
    const process = await remote.pick(tried);
    if (!process) return null;
    tried.add(process);
    let answer: Response;
    try {
      answer = await send(process);
    } catch (err) {
      if (!refusedConnection(err)) throw err;
      remote.failed(process);
      continue;
    }
    if (!(await signedForAnother(answer))) return answer;
    remote.failed(process);
    if (!askedAgain.has(process) && (await remote.check(process))) tried.delete(process);
    askedAgain.add(process);
  }
  return null;
}

/** A 401 saying the request was signed for another instance: the process restarted since it was last asked (its body is read). */
async function signedForAnother(answer: Response): Promise<boolean> {
  if (answer.status !== 401) return false;
  const problem = (await answer.clone().json().catch(() => null)) as { code?: string } | null;
  return problem?.code === WRONG_INSTANCE;
}

type ForwardedBody = string | Buffer | Readable;
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

function bodyOf(request: FastifyRequest): ForwardedBody | undefined {
  const body = request.body as unknown;
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body as string | Buffer;
  // A body a route takes as a stream (a CDS import) goes on as a stream: never held whole here either.
  const stream = (body as { stream?: unknown }).stream;
  if (stream instanceof Readable) return stream;
  return JSON.stringify(body);
}

async function forward(name: string, remote: RemoteService, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (!DROPPED.has(name) && value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  headers['x-request-id'] = String(request.id);
  const body = bodyOf(request);
  const streamed = body instanceof Readable;
  // The signature covers the body (its digest, or each frame of a streamed one), a nonce and the one process it
  // is for: a service takes neither a changed body nor a request sent twice, to it or to another of its processes.
  const digest = body === undefined ? null : streamed ? FRAMED_BODY : bodyDigest(body);
  // A parsed body goes on as the JSON it was (after the gateway validated it).
  if (body !== undefined && typeof request.body === 'object' && !Buffer.isBuffer(request.body) && typeof body === 'string') headers['content-type'] = 'application/json';
  const unavailable = () => new HttpError(503, 'service_unavailable', `the ${name} service is not answering; retry shortly`, undefined, { 'retry-after': '1' });
  let answer: Response | null;
  try {
    // A body held whole can go again (to another process, or to one asked again who it is); a streamed one was
    // read, in part at least, by the first attempt: never sent twice (its frames would start over mid-body).
    answer = await sendToSomeProcess(
      remote,
      async (process) => {
        const nonce = randomUUID();
        Object.assign(headers, signPrincipal({ auth: request.auth, commandId: request.commandId, at: Date.now(), nonce, body: digest, audience: process.instance! }, request.method, request.url, remote.secret));
        let sent: string | Buffer | ReadableStream | undefined = streamed ? undefined : body;
        if (streamed) {
          const framed = signFrames(remote.secret, nonce);
          body.on('error', (err) => framed.destroy(err));
          sent = Readable.toWeb(body.pipe(framed)) as ReadableStream;
        }
        try {
          return await fetch(new URL(request.url, process.url), { method: request.method, headers, body: sent, redirect: 'manual', ...(streamed ? { duplex: 'half' } : {}) } as Parameters<typeof fetch>[1]);
        } catch (err) {
          request.log.warn({ err, service: name, url: process.url }, 'service process not answering');
          throw err;
        }
      },
      { once: streamed },
    );
  } catch (err) {
    // Gone after it took the request (killed, the connection reset): a command may have taken effect, and without
    // an Idempotency-Key its retry is a second command (a random id), so the answer does not invite one.
    if (!SAFE.has(request.method) && request.headers['idempotency-key'] === undefined && !request.routeOptions.config?.replaySafe) {
      throw new HttpError(500, 'outcome_unknown', `the ${name} service went away while it handled this request: it may have taken effect; look before sending it again (a retry with an Idempotency-Key is safe)`);
    }
    // A retry its key makes safe.
    throw unavailable();
  }
  // No process took it (all down, restarting, or a streamed body refused by the first).
  if (!answer) throw unavailable();
  reply.code(answer.status);
  answer.headers.forEach((value, name) => {
    if (!DROPPED.has(name) && name !== 'content-encoding') reply.header(name, value);
  });
  // A command's JSON answer is taken whole, as an answer given here would be: the Idempotency-Key store keeps it
  // for replays (a stream it cannot). Downloads, CSV and server-sent events stream through.
  if (!SAFE.has(request.method) && /^application\/(problem\+)?json/.test(answer.headers.get('content-type') ?? '')) return reply.send(await answer.text());
  return reply.send(answer.body ? Readable.fromWeb(answer.body as ReadableStream) : null);
}
