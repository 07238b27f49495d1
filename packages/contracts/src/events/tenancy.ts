import type { EventContract } from '../eventRegistry.ts';
import { currency, object, timeZone, uuid, type EventsOf } from './common.ts';

export const apiKeyRoles = ['owner', 'billing_admin', 'member', 'read_only'] as const;
export type ApiKeyRole = (typeof apiKeyRoles)[number];

const name = { type: 'string', minLength: 1, maxLength: 200 } as const;

/** Organizations, their projects and API keys (stream organization-<orgId>); types derived from the schemas. */
const tenancyEventSchemas = {
  'tenancy.organization.created': object({ organizationId: uuid, name, billingEmail: { type: 'string', format: 'email' }, currency, timeZone }),
  'tenancy.project.created': object({ projectId: uuid, name }),
  'tenancy.api_key.issued': object({
    keyId: uuid,
    name,
    role: { enum: [...apiKeyRoles] },
    projectId: { anyOf: [uuid, { type: 'null' }] },
    keyHash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    prefix: { type: 'string', minLength: 4, maxLength: 32 },
  }),
  'tenancy.api_key.revoked': object({ keyId: uuid }),
};

/**
 * The dashboard's sign-in, kept server-side so it can be ended (stream portal-link-<linkId>, portal-session-<sessionId>):
 * a portal link is used once, and a session signed out is over for good.
 */
const portalEventSchemas = {
  'tenancy.portal_link.used': object({ linkId: uuid, keyId: uuid, sessionId: uuid }),
  'tenancy.portal_session.ended': object({ sessionId: uuid, keyId: uuid }),
};

export type TenancyEvent = EventsOf<typeof tenancyEventSchemas>;
export type PortalEvent = EventsOf<typeof portalEventSchemas>;
export type OrganizationCreated = Extract<TenancyEvent, { type: 'tenancy.organization.created' }>;
export type ProjectCreated = Extract<TenancyEvent, { type: 'tenancy.project.created' }>;
export type ApiKeyIssued = Extract<TenancyEvent, { type: 'tenancy.api_key.issued' }>;
export type ApiKeyRevoked = Extract<TenancyEvent, { type: 'tenancy.api_key.revoked' }>;

export const tenancyContracts: EventContract[] = Object.entries({ ...tenancyEventSchemas, ...portalEventSchemas }).map(([type, schema]) => ({ type, schema, schemaVersion: 1 }));
