import { apiKeyRoles } from '@curbmap/contracts';

const uuid = { type: 'string', format: 'uuid' } as const;
const instant = { type: 'string', format: 'date-time' } as const;

export const tenancySchemas = [
  {
    $id: 'Organization',
    type: 'object',
    required: ['id', 'name', 'billingEmail', 'currency', 'timeZone', 'createdAt'],
    properties: { id: uuid, name: { type: 'string' }, billingEmail: { type: 'string' }, currency: { type: 'string' }, timeZone: { type: 'string' }, createdAt: instant },
  },
  {
    $id: 'Project',
    type: 'object',
    required: ['id', 'organizationId', 'name', 'createdAt'],
    properties: { id: uuid, organizationId: uuid, name: { type: 'string' }, createdAt: instant },
  },
  {
    $id: 'ApiKey',
    type: 'object',
    description: 'An API key as listed: never its secret.',
    required: ['id', 'name', 'role', 'projectId', 'prefix', 'createdAt', 'revokedAt'],
    properties: {
      id: uuid,
      name: { type: 'string' },
      role: { type: 'string', enum: [...apiKeyRoles] },
      projectId: { anyOf: [uuid, { type: 'null' }] },
      prefix: { type: 'string' },
      createdAt: instant,
      revokedAt: { anyOf: [instant, { type: 'null' }] },
    },
  },
];

export const nameField = { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' } as const;
export const roleField = { type: 'string', enum: [...apiKeyRoles] } as const;
export const uuidField = uuid;
