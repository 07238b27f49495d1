import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, PROBLEM_TYPE_BASE, toProblem } from '@curbmap/service-kit';

/** Longer request targets are refused with 414 (Node refuses anything past its 16 KiB header limit with 431). */
export const MAX_URL_LENGTH = 8192;

/**
 * Errors raised before fastify has a request (a header block too large, a malformed request line) are written
 * to the socket as problem+json too.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_URI_TOO_LONG' ? 414 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const code = status === 431 ? 'header_fields_too_large' : status === 414 ? 'uri_too_long' : status === 408 ? 'request_timeout' : 'bad_request';
  const detail = status === 431 ? 'the request headers are too large (16 KiB at most)' : status === 408 ? 'the request took too long to arrive' : 'the request is not valid HTTP';
  const titles: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 414: 'URI Too Long', 431: 'Request Header Fields Too Large' };
  const body = JSON.stringify({ type: PROBLEM_TYPE_BASE + code, title: titles[status], status, detail, code });
  socket.end(`HTTP/1.1 ${status} ${titles[status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** Errors fastify's router raises itself (malformed percent-escapes, over-long parameters) go through the error handler. */
export function frameworkErrors(err: Error & { statusCode?: number; code?: string }, request: FastifyRequest, reply: FastifyReply): void {
  const status = err.statusCode ?? 400;
  const problem = toProblem(new HttpError(status, status === 414 ? 'uri_too_long' : 'bad_url', err.code === 'FST_ERR_BAD_URL' ? 'the URL has a malformed percent-escape' : err.message));
  reply.code(status).type('application/problem+json').send(JSON.stringify({ ...problem, requestId: String(request.id) }));
}

/**
 * What fastify alone does not: 414 for long URLs, 405 with Allow for a known path and an unknown method, and a
 * JSON content type with no body on a DELETE (clients send the header by habit) read as no body.
 */
export function installProtocolRules(app: FastifyInstance): { methodsFor(path: string): string[] } {
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const pattern = new RegExp(`^${route.url.split('/').map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`);
    const existing = routes.find((r) => r.pattern.source === pattern.source);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (existing) for (const m of methods) existing.methods.add(m);
    else routes.push({ pattern, methods: new Set(methods) });
  });
  const methodsFor = (path: string) => {
    const methods = new Set<string>();
    for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) methods.add(m);
    return [...methods].sort();
  };
  app.addHook('onRequest', async (request) => {
    if (request.url.length > MAX_URL_LENGTH) throw new HttpError(414, 'uri_too_long', `the URL is longer than ${MAX_URL_LENGTH} characters`);
    // A method no route of a known path takes is a 405 before its body is looked at (QUERY without a Content-Type
    // was a 400 about the missing header).
    if (request.is404) {
      const path = request.url.split('?')[0]!;
      const allowed = methodsFor(path);
      if (allowed.length > 0) throw new HttpError(405, 'method_not_allowed', `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, undefined, { allow: allowed.join(', ') });
    }
  });
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0 && (request.method === 'DELETE' || request.method === 'GET')) return done(null, undefined);
    if (body.length === 0) return done(new HttpError(400, 'empty_body', 'the body is empty; send a JSON document'), undefined);
    return jsonParser(request, body as string, done);
  });
  return { methodsFor };
}
