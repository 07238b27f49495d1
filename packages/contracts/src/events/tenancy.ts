import type { EventContract } from '../eventRegistry.ts';
import { currency, object, timeZone, uuid } from './common.ts';

export const apiKeyRoles = ['owner', 'billing_admin', 'member', 'read_only'] as const;
export type ApiKeyRole = (typeof apiKeyRoles)[number];

export interface OrganizationCreated {
  type: 'tenancy.organization.created';
  data: { organizationId: string; name: string; billingEmail: string; currency: string; timeZone: string };
}
export interface ProjectCreated {
  type: 'tenancy.project.created';
  data: { projectId: string; name: string };
}
export interface ApiKeyIssued {
  type: 'tenancy.api_key.issued';
  data: { keyId: string; name: string; role: ApiKeyRole; projectId: string | null; keyHash: string; prefix: string };
}
export interface ApiKeyRevoked {
  type: 'tenancy.api_key.revoked';
  data: { keyId: string };
}
export type TenancyEvent = OrganizationCreated | ProjectCreated | ApiKeyIssued | ApiKeyRevoked;

const name = { type: 'string', minLength: 1, maxLength: 200 } as const;

export const tenancyContracts: EventContract[] = [
  {
    type: 'tenancy.organization.created',
    schemaVersion: 1,
    schema: object({ organizationId: uuid, name, billingEmail: { type: 'string', format: 'email' }, currency, timeZone }),
  },
  { type: 'tenancy.project.created', schemaVersion: 1, schema: object({ projectId: uuid, name }) },
  {
    type: 'tenancy.api_key.issued',
    schemaVersion: 1,
    schema: object({
      keyId: uuid,
      name,
      role: { enum: [...apiKeyRoles] },
      projectId: { anyOf: [uuid, { type: 'null' }] },
      keyHash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      prefix: { type: 'string', minLength: 4, maxLength: 32 },
    }),
  },
  { type: 'tenancy.api_key.revoked', schemaVersion: 1, schema: object({ keyId: uuid }) },
];
