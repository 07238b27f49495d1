import type { TenancyEvent } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection, type StoredEvent } from '@curbmap/eventsourcing';

export interface OrganizationView extends Document {
  name: string;
  billingEmail: string;
  currency: string;
  timeZone: string;
  createdAt: string;
}
export interface ProjectView extends Document {
  name: string;
  createdAt: string;
}
export interface ApiKeyView extends Document {
  name: string;
  role: string;
  projectId: string | null;
  prefix: string;
  /** Kept to find the lookup row on revocation; never served (response schemas omit it). */
  keyHash: string;
  createdAt: string;
  revokedAt: string | null;
}
/** Looked up by the hash of the presented key on every request; id = sha256 of the key. */
export interface ApiKeyLookup extends Document {
  keyId: string;
  role: ApiKeyView['role'];
  projectId: string | null;
  revoked: boolean;
}

export const tenancyCollections = { organizations: 'organizations', projects: 'projects', apiKeys: 'api_keys', apiKeyLookup: 'api_key_lookup' } as const;
const C = tenancyCollections;

export const tenancyProjection: Projection = {
  name: 'gateway.tenancy.v1',
  filter: { categories: ['organization'] },
  collections: Object.values(C),
  async apply(stored, tx) {
    const event = stored as StoredEvent & TenancyEvent;
    const organizationId = stored.organizationId;
    const at = stored.occurredAt;
    // Each document remembers the organization stream's version it applied: a redelivered `issued` can never
    // bring back a key that was revoked after it (see markApplied).
    const put = <D extends Document>(collection: string, next: D) => updateOnce<D>(tx, collection, next.id, stored, () => next);
    switch (event.type) {
      case 'tenancy.organization.created': {
        const { organizationId: id, ...rest } = event.data;
        await put(C.organizations, { id, organizationId: id, ...rest, createdAt: at } satisfies OrganizationView);
        return;
      }
      case 'tenancy.project.created':
        await put(C.projects, { id: event.data.projectId, organizationId, name: event.data.name, createdAt: at } satisfies ProjectView);
        return;
      case 'tenancy.api_key.issued': {
        const { keyId, keyHash, name, role, projectId, prefix } = event.data;
        await put(C.apiKeys, { id: keyId, organizationId, name, role, projectId, prefix, keyHash, createdAt: at, revokedAt: null } satisfies ApiKeyView);
        await put(C.apiKeyLookup, { id: keyHash, organizationId, keyId, role, projectId, revoked: false } satisfies ApiKeyLookup);
        return;
      }
      case 'tenancy.api_key.revoked': {
        const key = await tx.get<ApiKeyView>(C.apiKeys, event.data.keyId);
        if (!key) return;
        await put(C.apiKeys, { ...key, revokedAt: at });
        const lookup = await tx.get<ApiKeyLookup>(C.apiKeyLookup, key.keyHash);
        if (lookup) await put(C.apiKeyLookup, { ...lookup, revoked: true });
        return;
      }
      default: {
        const exhaustive: never = event;
        return exhaustive;
      }
    }
  },
};
