import type { FastifyInstance } from 'fastify';
import { DEAD_LETTERS, type DeadLetter } from '@curbmap/eventsourcing';
import { HttpError, notFound, problemResponses, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { postInternal } from './forwarding.ts';
import type { RemoteService } from './remoteService.ts';

const tags = ['operations'];
const security = [{ adminToken: [] }];

const deadLetterSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    organizationId: { type: 'string' },
    subscription: { type: 'string' },
    eventId: { type: 'string' },
    eventType: { type: 'string' },
    streamId: { type: 'string' },
    position: { type: ['string', 'null'] },
    error: { type: 'string' },
    attempts: { type: 'integer' },
    status: { type: 'string', enum: ['parked', 'resolved'] },
    parkedAt: { type: 'string' },
    resolvedAt: { type: ['string', 'null'] },
  },
} as const;

/**
 * Asks the service process whose subscription parked a dead letter to retry it (a subscription is named after
 * its service: `billing.processes.v1` runs in billing's process). Answers as the retry here would.
 */
async function retryRemotely(remote: RemoteService, deadLetter: DeadLetter): Promise<unknown> {
  const url = `/internal/dead-letters/${encodeURIComponent(deadLetter.id)}/retry`;
  const answer = await postInternal(remote, url, { auth: { kind: 'admin' }, timeoutMs: 60_000 }).catch(() => null);
  if (!answer) throw new HttpError(503, 'service_unavailable', 'the service that runs this subscription is not answering; retry shortly', undefined, { 'retry-after': '1' });
  const body = (await answer.json().catch(() => ({}))) as { detail?: string; code?: string };
  if (answer.status === 200) return body;
  throw new HttpError(answer.status === 404 ? 404 : 409, body.code ?? 'retry_failed', body.detail ?? `the service answered ${answer.status}`);
}

/** Events a subscription gave up on (admin token): list them, run one through its handler again. */
export function registerDeadLetterRoutes(fastify: FastifyInstance, ctx: ServiceContext, remoteServices: Record<string, RemoteService> = {}): void {
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.get('/v1/admin/dead-letters', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Events parked after repeated handler failures',
      tags,
      security,
      querystring: { type: 'object', additionalProperties: false, properties: { status: { type: 'string', enum: ['parked', 'resolved'], default: 'parked' } } } as const,
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: deadLetterSchema } } }, ...problemResponses(400, 401) },
    },
    handler: async (request) => ({ data: await ctx.readStore.find<DeadLetter & { [k: string]: unknown }>(DEAD_LETTERS, { status: request.query.status }, { orderBy: 'parkedAt', limit: 1000 }) }),
  });

  app.post('/v1/admin/dead-letters/:id/retry', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Run a parked event through its subscription again',
      description: 'On success the dead letter is resolved; on failure it stays parked with the new error (409).',
      tags,
      security,
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 300 } } } as const,
      response: { 200: deadLetterSchema, ...problemResponses(401, 404, 409, 503) },
    },
    handler: async (request) => {
      const deadLetter = await ctx.readStore.get<DeadLetter & { [k: string]: unknown }>(DEAD_LETTERS, request.params.id);
      if (!deadLetter) throw notFound('dead letter');
      if (deadLetter.status === 'resolved') return deadLetter;
      const subscription = ctx.subscriptions.list().find((s) => s.name === deadLetter.subscription);
      const remote = remoteServices[deadLetter.subscription.split('.')[0]!];
      if (!subscription && remote) return retryRemotely(remote, deadLetter);
      if (!subscription) throw new HttpError(409, 'subscription_not_running', `subscription ${deadLetter.subscription} is not running in this process`);
      try {
        await subscription.retry(deadLetter);
      } catch (err) {
        throw new HttpError(409, 'retry_failed', `the handler failed again: ${err instanceof Error ? err.message : String(err)}`);
      }
      return ctx.readStore.get(DEAD_LETTERS, deadLetter.id);
    },
  });
}
