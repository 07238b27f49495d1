import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Filter } from '@curbmap/eventsourcing';
import { assertProjectAccess, commandMetadata, getScoped, inputSchemas, keyAuth, organizationKeyAuth, problemResponses, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { createOrganization, createProject, issueApiKey, revokeApiKey } from '../application/tenancyCommands.ts';
import { tenancyCollections as C, type ApiKeyView, type OrganizationView, type ProjectView } from '../projections/tenancyProjection.ts';
import { nameField, roleField, uuidField } from './tenancySchemas.ts';

const security = [{ apiKey: [] }];
const tags = ['organizations'];

const organizationCreated = {
  type: 'object',
  required: ['id', 'apiKey'],
  properties: { id: uuidField, apiKey: { type: ['string', 'null'], description: 'The owner key, shown only in this answer (null when an Idempotency-Key retry finds the organization already created)' }, apiKeyId: uuidField, organization: { anyOf: [{ $ref: 'Organization#' }, { type: 'null' }] } },
} as const;

const keyIssued = { type: 'object', required: ['key'], properties: { key: { type: ['string', 'null'], description: 'The secret, shown only in this answer (null on an Idempotency-Key retry)' }, apiKey: { anyOf: [{ $ref: 'ApiKey#' }, { type: 'null' }] } } } as const;

/** 201, or 202 with Retry-After while another read model does not show it yet (the answer carries what was made). */
const createdOrAccepted = (reply: FastifyReply, visible: boolean) => (visible ? reply.code(201) : reply.code(202).header('retry-after', '1'));

export async function tenancyRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const { readStore } = ctx;

  app.post('/v1/organizations', {
    config: { auth: 'admin', responseContainsSecret: true },
    schema: {
      summary: 'Create an organization (platform admin) and its owner API key',
      tags,
      security: [{ adminToken: [] }],
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'billingEmail'],
        properties: {
          name: nameField,
          billingEmail: { type: 'string', format: 'email', maxLength: 320 },
          currency: { type: 'string', format: 'iso-4217', default: 'USD' },
          timeZone: { ...inputSchemas.timeZone, default: 'UTC' },
        },
      } as const,
      response: {
        201: organizationCreated,
        202: { ...organizationCreated, description: 'Created, and its owner key is in this answer (shown only here), but a read model does not show the organization yet (organization null): poll the Location' },
        ...problemResponses(400, 401, 409, 429),
      },
    },
    handler: async (request, reply) => {
      const { name, billingEmail, currency = 'USD', timeZone = 'UTC' } = request.body;
      const meta = { commandId: request.commandId, now: ctx.now().toISOString(), correlationId: String(request.id) };
      const { organizationId, apiKey, keyId, visible } = await createOrganization(ctx, meta, { name: name.trim(), billingEmail, currency: currency.toUpperCase(), timeZone });
      const organization = await readStore.get<OrganizationView>(C.organizations, organizationId);
      createdOrAccepted(reply, visible).header('location', '/v1/organization');
      return { id: organizationId, apiKey, apiKeyId: keyId, organization };
    },
  });

  app.post('/v1/admin/organizations/:id/api-keys', {
    config: { auth: 'admin', responseContainsSecret: true },
    schema: {
      summary: 'Issue an owner key to an organization (platform admin): recovery when its owners lost theirs',
      tags,
      security: [{ adminToken: [] }],
      params: inputSchemas.idParams,
      body: { type: 'object', additionalProperties: false, properties: { name: nameField } } as const,
      response: {
        201: keyIssued,
        202: { ...keyIssued, description: 'Issued, and its secret is in this answer (shown only here), but a read model does not show the key yet (apiKey null; the key may not authenticate for a moment): poll the Location' },
        ...problemResponses(400, 401, 404),
      },
    },
    handler: async (request, reply) => {
      const organizationId = request.params.id;
      const name = request.body?.name?.trim() || 'owner (issued by the operator)';
      const { keyId, key, visible } = await issueApiKey(ctx, commandMetadata(request, ctx, organizationId), { name, role: 'owner', projectId: null });
      request.log.info({ organizationId, keyId }, 'operator issued an owner key');
      createdOrAccepted(reply, visible);
      return { key, apiKey: await readStore.get<ApiKeyView>(C.apiKeys, keyId) };
    },
  });

  app.get('/v1/organization', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'The organization of the calling key', tags, security, response: { 200: { $ref: 'Organization#' }, ...problemResponses(401) } },
    handler: async (request) => {
      const auth = keyAuth(request);
      return getScoped<OrganizationView>(readStore, auth, C.organizations, auth.organizationId, 'organization');
    },
  });

  app.post('/v1/projects', {
    config: { auth: 'key', minRole: 'member' },
    schema: {
      summary: 'Create a project',
      tags: ['projects'],
      security,
      body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: nameField } } as const,
      response: {
        201: { $ref: 'Project#' },
        202: { description: 'Created, but a read model does not show it yet: its id is here, poll the Location', anyOf: [{ $ref: 'Project#' }, { type: 'object', required: ['id'], properties: { id: uuidField, name: { type: 'string' } } }] },
        ...problemResponses(400, 401, 403, 409),
      },
    },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'create projects');
      const name = request.body.name.trim();
      const { projectId, visible } = await createProject(ctx, commandMetadata(request, ctx, auth.organizationId), name);
      createdOrAccepted(reply, visible).header('location', `/v1/projects/${projectId}`);
      return (await readStore.get<ProjectView>(C.projects, projectId)) ?? { id: projectId, name };
    },
  });

  app.get('/v1/projects', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: "List the organization's projects (a project-restricted key sees its own)",
      tags: ['projects'],
      security,
      response: { 200: { type: 'object', required: ['data'], properties: { data: { type: 'array', items: { $ref: 'Project#' } } } }, ...problemResponses(401) },
    },
    handler: async (request) => {
      const auth = keyAuth(request);
      const filter: Filter = { organizationId: auth.organizationId };
      if (auth.projectId) filter['id'] = auth.projectId;
      return { data: await readStore.find<ProjectView>(C.projects, filter, { orderBy: 'createdAt' }) };
    },
  });

  app.get('/v1/projects/:id', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'Get a project', tags: ['projects'], security, params: inputSchemas.idParams, response: { 200: { $ref: 'Project#' }, ...problemResponses(400, 401, 404) } },
    handler: async (request) => {
      const auth = keyAuth(request);
      assertProjectAccess(auth, request.params.id);
      return getScoped<ProjectView>(readStore, auth, C.projects, request.params.id, 'project');
    },
  });

  app.post('/v1/api-keys', {
    config: { auth: 'key', minRole: 'owner', responseContainsSecret: true },
    schema: {
      summary: 'Issue an API key; its secret is shown only in this answer',
      tags: ['api-keys'],
      security,
      body: { type: 'object', additionalProperties: false, required: ['name', 'role'], properties: { name: nameField, role: roleField, projectId: uuidField } } as const,
      response: {
        201: keyIssued,
        202: { ...keyIssued, description: 'Issued, and its secret is in this answer (shown only here), but a read model does not show the key yet (apiKey null; the key may not authenticate for a moment): poll the Location' },
        ...problemResponses(400, 401, 403, 404),
      },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const projectId = request.body.projectId ?? auth.projectId;
      assertProjectAccess(auth, projectId);
      const { keyId, key, visible } = await issueApiKey(ctx, commandMetadata(request, ctx, auth.organizationId), { name: request.body.name.trim(), role: request.body.role, projectId: projectId ?? null });
      createdOrAccepted(reply, visible).header('location', `/v1/api-keys/${keyId}`);
      return { key, apiKey: await readStore.get<ApiKeyView>(C.apiKeys, keyId) };
    },
  });

  app.get('/v1/api-keys', {
    config: { auth: 'key', minRole: 'owner' },
    schema: {
      summary: "List the organization's API keys, without secrets",
      tags: ['api-keys'],
      security,
      response: { 200: { type: 'object', required: ['data'], properties: { data: { type: 'array', items: { $ref: 'ApiKey#' } } } }, ...problemResponses(401, 403) },
    },
    handler: async (request) => {
      const auth = keyAuth(request);
      const filter: Filter = { organizationId: auth.organizationId };
      if (auth.projectId) filter['projectId'] = auth.projectId;
      return { data: await readStore.find<ApiKeyView>(C.apiKeys, filter, { orderBy: 'createdAt' }) };
    },
  });

  app.delete('/v1/api-keys/:id', {
    config: { auth: 'key', minRole: 'owner' },
    schema: {
      summary: 'Revoke an API key; it stops working at once',
      description: "The organization's last organization-wide owner key cannot be revoked (409): issue another owner key, not restricted to a project, first (a project-restricted owner key cannot manage the subscription, keys or settings).",
      tags: ['api-keys'],
      security,
      params: inputSchemas.idParams,
      response: { 204: { type: 'null' }, ...problemResponses(400, 401, 403, 404, 409) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const key = await getScoped<ApiKeyView>(readStore, auth, C.apiKeys, request.params.id, 'API key');
      assertProjectAccess(auth, key.projectId ?? undefined);
      await revokeApiKey(ctx, commandMetadata(request, ctx, auth.organizationId), key.id);
      reply.code(204);
    },
  });
}
