import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { webhookEventTypes, type NotificationKind } from '@curbmap/contracts';
import { deterministicUuid, loadState } from '@curbmap/eventsourcing';
import { commandMetadata, getScoped, HttpError, inputSchemas, keyAuth, organizationKeyAuth, organizationReadAuth, problemResponses, runCommand, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { refuseWebhookUrl } from '../adapters/httpWebhookSender.ts';
import { redeliver } from '../application/webhookDelivery.ts';
import { webhookEndpointDecider, webhookEndpointStream, type WebhookEndpointCommand } from '../domain/webhook/webhookEndpointDecider.ts';
import { notificationCollections as C, type WebhookEndpointView, type WebhookMessageView } from '../projections/notificationProjections.ts';

const tags = ['webhooks'];
const security = [{ apiKey: [] }];
const uuid = { type: 'string', format: 'uuid' } as const;
const instant = { type: 'string', format: 'date-time' } as const;
const nullable = <S extends object>(s: S) => ({ anyOf: [s, { type: 'null' }] }) as const;

const endpointSchema = {
  $id: 'WebhookEndpoint',
  type: 'object',
  required: ['id', 'url', 'events', 'status', 'createdAt'],
  properties: {
    id: uuid,
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string' } },
    description: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['enabled', 'disabled'] },
    disabledReason: { type: ['string', 'null'] },
    createdAt: instant,
    secretRotatedAt: nullable(instant),
  },
} as const;
const withSecret = { type: 'object', required: [...endpointSchema.required, 'secret'], properties: { ...endpointSchema.properties, secret: { type: 'string', description: 'Shown once: verify signatures with it (Standard Webhooks)' } } } as const;
const deliverySchema = {
  type: 'object',
  properties: {
    id: uuid,
    eventType: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    nextAttemptAt: nullable(instant),
    createdAt: instant,
    payload: { type: 'object', additionalProperties: true },
    attempts: {
      type: 'array',
      items: { type: 'object', properties: { attempt: { type: 'integer' }, attemptedAt: instant, status: { type: ['integer', 'null'] }, outcome: { type: 'string' }, error: { type: ['string', 'null'] }, durationMs: { type: 'integer' } } },
    },
  },
} as const;

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const present = ({ id, url, events, description, status, disabledReason, createdAt, secretRotatedAt }: WebhookEndpointView) => ({ id, url, events, description, status, disabledReason, createdAt, secretRotatedAt });

/**
 * Webhook endpoints (Standard Webhooks): created with the events they want, a `whsec_` secret shown once, its
 * rotation (both secrets sign for 24 hours), the delivery log, and redelivery of any message.
 */
export async function webhookEndpointRoutes(fastify: FastifyInstance, ctx: ServiceContext, options: { allowPrivateNetworks: boolean; kick(): void }): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.addSchema(endpointSchema);

  const run = async (request: Parameters<typeof commandMetadata>[0], organizationId: string, endpointId: string, command: Omit<WebhookEndpointCommand, 'metadata'>) =>
    runCommand(ctx, webhookEndpointDecider, webhookEndpointStream(endpointId), { ...command, metadata: commandMetadata(request, ctx, organizationId) } as WebhookEndpointCommand);
  const current = (endpointId: string) => loadState(ctx.store, webhookEndpointDecider, webhookEndpointStream(endpointId));

  app.post('/v1/webhook-endpoints', {
    config: { auth: 'key', minRole: 'billing_admin', responseContainsSecret: true },
    schema: {
      summary: 'Receive events at a URL, signed (Standard Webhooks)',
      description: `Events: ${webhookEventTypes.join(', ')}. The URL must be https and resolve to public addresses (unless the operator set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true). The answer shows the signing secret once. Send an Idempotency-Key: a retry creates one endpoint.`,
      tags,
      security,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['url', 'events'],
        properties: {
          url: { type: 'string', minLength: 1, maxLength: 2000 },
          events: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...webhookEventTypes] } },
          description: { type: ['string', 'null'], maxLength: 200 },
        },
      },
      response: { 201: withSecret, ...problemResponses(400, 401, 403, 422) },
    },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'manage webhook endpoints');
      const body = request.body as { url: string; events: NotificationKind[]; description?: string | null };
      const why = await refuseWebhookUrl(body.url, options.allowPrivateNetworks);
      if (why) throw new HttpError(422, 'invalid_webhook_url', why);
      const meta = commandMetadata(request, ctx, auth.organizationId);
      const endpointId = deterministicUuid(`webhookendpoint:${auth.organizationId}:${meta.commandId}`);
      await runCommand(ctx, webhookEndpointDecider, webhookEndpointStream(endpointId), { type: 'CreateEndpoint', data: { endpointId, url: new URL(body.url).toString(), events: body.events, description: body.description ?? null, secret: newSecret() }, metadata: meta });
      const state = await current(endpointId);
      const view = await getScoped<WebhookEndpointView>(ctx.readStore, auth, C.endpoints, endpointId, 'webhook endpoint');
      reply.code(201);
      return { ...present(view), secret: state.status === 'none' ? '' : state.secret };
    },
  });

  app.get('/v1/webhook-endpoints', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'The organization\'s webhook endpoints (never their secrets)', tags, security, response: { 200: { type: 'object', properties: { data: { type: 'array', items: { $ref: 'WebhookEndpoint#' } } } }, ...problemResponses(401, 403) } },
    handler: async (request) => {
      const auth = organizationReadAuth(request, 'webhook endpoints');
      return { data: (await ctx.readStore.find<WebhookEndpointView>(C.endpoints, { organizationId: auth.organizationId }, { orderBy: 'createdAt' })).map(present) };
    },
  });

  app.get('/v1/webhook-endpoints/:id', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'One webhook endpoint', tags, security, params: inputSchemas.idParams, response: { 200: { $ref: 'WebhookEndpoint#' }, ...problemResponses(400, 401, 403, 404) } },
    handler: async (request) => present(await getScoped<WebhookEndpointView>(ctx.readStore, organizationReadAuth(request, 'webhook endpoints'), C.endpoints, request.params.id, 'webhook endpoint')),
  });

  app.delete('/v1/webhook-endpoints/:id', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: { summary: 'Stop sending to an endpoint and forget it', tags, security, params: inputSchemas.idParams, response: { 204: { type: 'null' }, ...problemResponses(400, 401, 403, 404) } },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'manage webhook endpoints');
      await getScoped<WebhookEndpointView>(ctx.readStore, auth, C.endpoints, request.params.id, 'webhook endpoint');
      await run(request, auth.organizationId, request.params.id, { type: 'DeleteEndpoint', data: {} });
      reply.code(204);
      return null;
    },
  });

  app.post('/v1/webhook-endpoints/:id/rotate-secret', {
    config: { auth: 'key', minRole: 'billing_admin', responseContainsSecret: true },
    schema: {
      summary: 'A new signing secret; the old one keeps signing for 24 hours',
      description: 'Until `previousExpiresAt` each message carries two signatures (`webhook-signature: v1,<new> v1,<old>`), so a receiver can switch secrets without losing a message.',
      tags,
      security,
      params: inputSchemas.idParams,
      response: { 200: { type: 'object', properties: { secret: { type: 'string' }, previousExpiresAt: instant } }, ...problemResponses(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'manage webhook endpoints');
      await getScoped<WebhookEndpointView>(ctx.readStore, auth, C.endpoints, request.params.id, 'webhook endpoint');
      await run(request, auth.organizationId, request.params.id, { type: 'RotateSecret', data: { secret: newSecret() } });
      const state = await current(request.params.id);
      if (state.status === 'none' || !state.previous) throw new Error('rotation recorded but not found in the stream');
      return { secret: state.secret, previousExpiresAt: state.previous.expiresAt };
    },
  });

  app.post('/v1/webhook-endpoints/:id/enable', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: { summary: 'Enable an endpoint that was disabled (it answered 410, or failed for 5 days)', description: 'Messages it missed meanwhile can be redelivered from its delivery log.', tags, security, params: inputSchemas.idParams, response: { 200: { $ref: 'WebhookEndpoint#' }, ...problemResponses(400, 401, 403, 404, 422) } },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'manage webhook endpoints');
      const view = await getScoped<WebhookEndpointView>(ctx.readStore, auth, C.endpoints, request.params.id, 'webhook endpoint');
      const why = await refuseWebhookUrl(view.url, options.allowPrivateNetworks);
      if (why) throw new HttpError(422, 'invalid_webhook_url', why);
      await run(request, auth.organizationId, request.params.id, { type: 'EnableEndpoint', data: {} });
      return present((await ctx.readStore.get<WebhookEndpointView>(C.endpoints, request.params.id))!);
    },
  });

  app.get('/v1/webhook-endpoints/:id/deliveries', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'The delivery log: each message sent to the endpoint, newest first, with every attempt',
      tags,
      security,
      params: inputSchemas.idParams,
      querystring: { type: 'object', additionalProperties: false, properties: { status: { type: 'string', enum: ['pending', 'delivered', 'failed'] }, limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 }, cursor: { type: 'string', maxLength: 500 } } } as const,
      response: { 200: { type: 'object', required: ['data', 'next'], properties: { data: { type: 'array', items: deliverySchema }, next: { type: ['string', 'null'] } } }, ...problemResponses(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const auth = organizationReadAuth(request, 'webhook delivery logs');
      await getScoped<WebhookEndpointView>(ctx.readStore, auth, C.endpoints, request.params.id, 'webhook endpoint');
      const q = request.query;
      const page = await ctx.readStore.findPage<WebhookMessageView>(C.messages, { organizationId: auth.organizationId, endpointId: request.params.id, ...(q.status ? { status: q.status } : {}) }, { orderBy: 'createdAt', direction: 'desc', limit: q.limit ?? 50, after: q.cursor ?? null });
      return { data: page.items, next: page.next };
    },
  });

  app.post('/v1/webhook-endpoints/:id/deliveries/:messageId/redeliver', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'Send a message again (a new series of attempts, the same webhook-id)',
      tags,
      security,
      params: { type: 'object', required: ['id', 'messageId'], properties: { id: uuid, messageId: uuid } },
      response: { 202: deliverySchema, ...problemResponses(400, 401, 403, 404, 409) },
    },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'redeliver webhooks');
      const { id, messageId } = request.params as { id: string; messageId: string };
      const endpoint = await getScoped<WebhookEndpointView>(ctx.readStore, auth, C.endpoints, id, 'webhook endpoint');
      const message = await getScoped<WebhookMessageView>(ctx.readStore, auth, C.messages, messageId, 'webhook message');
      if (message.endpointId !== endpoint.id) throw new HttpError(404, 'not_found', 'webhook message not found');
      if (endpoint.status !== 'enabled') throw new HttpError(409, 'endpoint_disabled', 'the endpoint is disabled: enable it first (POST …/enable)');
      await redeliver(ctx, messageId, auth.organizationId, request.commandId);
      options.kick();
      reply.code(202);
      return ctx.readStore.get<WebhookMessageView>(C.messages, messageId);
    },
  });
}
