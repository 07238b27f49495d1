import type { FastifyInstance } from 'fastify';
import { HttpError, isUnreachable, NotYetVisibleError, PROBLEM_TYPE_BASE, toProblem } from '../problem.ts';
import { requestWrote, trackRequestWrites } from './requestWrites.ts';

/**
 * Errors answer as application/problem+json (RFC 9457) with the request's URL and id; a command whose read
 * models lag answers 202 with where to look. The gateway and every service process answer alike.
 */
export function installProblemErrors(app: FastifyInstance): void {
  trackRequestWrites(app);
  app.setErrorHandler((err, request, reply) => {
    if (err instanceof NotYetVisibleError) {
      const location = request.routeOptions.config?.pollLocation ?? request.url.split('?')[0]!;
      request.log.warn({ err }, 'answered 202: a read model lags behind the committed write');
      return reply.code(202).header('location', location).header('retry-after', '1').serializer(JSON.stringify).send({ status: 'accepted', detail: err.message, location });
    }
    let problem = toProblem(err);
    // A store lost after this request appended: its write may have taken effect. Without an Idempotency-Key its
    // retry would be a second request (a second refund), so the answer does not invite one.
    if (problem.status === 503 && isUnreachable(err) && requestWrote() && request.headers['idempotency-key'] === undefined && !request.routeOptions.config?.replaySafe) {
      problem = { ...problem, status: 500, title: 'Internal Server Error', code: 'outcome_unknown', type: `${PROBLEM_TYPE_BASE}outcome_unknown`, detail: 'a store went out of reach after this request wrote: it may have taken effect; look before sending it again (a retry with an Idempotency-Key is safe)' };
    }
    if (err instanceof HttpError) reply.headers(err.headers);
    else if (problem.status === 503) reply.header('retry-after', '1');
    if (problem.status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: problem.code, status: problem.status }, problem.detail);
    reply
      .code(problem.status)
      .type('application/problem+json')
      .serializer(JSON.stringify)
      .send({ ...problem, instance: request.url, requestId: String(request.id) });
  });
}
