import type { ApiKeyIssued, ApiKeyRevoked, ApiKeyRole, OrganizationCreated, ProjectCreated, TenancyEvent } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, type Command, type Decider } from '@curbmap/eventsourcing';

export const organizationStream = (organizationId: string) => `organization-${organizationId}`;

export interface NewKey {
  keyId: string;
  name: string;
  role: ApiKeyRole;
  projectId: string | null;
  keyHash: string;
  prefix: string;
}

export type CreateOrganization = Command<'CreateOrganization', OrganizationCreated['data'] & { ownerKey: NewKey }>;
export type CreateProject = Command<'CreateProject', { projectId: string; name: string }>;
export type IssueApiKey = Command<'IssueApiKey', NewKey>;
export type RevokeApiKey = Command<'RevokeApiKey', { keyId: string }>;
export type OrganizationCommand = CreateOrganization | CreateProject | IssueApiKey | RevokeApiKey;

export type OrganizationState =
  | { status: 'none' }
  | {
      status: 'active';
      organizationId: string;
      projects: { projectId: string; name: string }[];
      keys: { keyId: string; role: ApiKeyRole; projectId: string | null; revoked: boolean }[];
    };

function issued(key: NewKey): ApiKeyIssued {
  return { type: 'tenancy.api_key.issued', data: { ...key } };
}

export const organizationDecider: Decider<OrganizationCommand, TenancyEvent, OrganizationState> = {
  initialState: () => ({ status: 'none' }),

  decide(command, state) {
    if (command.type === 'CreateOrganization') {
      if (state.status !== 'none') throw new IllegalStateError(`organization ${state.organizationId} already exists`);
      const { ownerKey, ...org } = command.data;
      const created: OrganizationCreated = { type: 'tenancy.organization.created', data: org };
      return [created, issued({ ...ownerKey, role: 'owner', projectId: null })];
    }
    if (state.status === 'none') throw new NotFoundError('organization');
    switch (command.type) {
      case 'CreateProject': {
        const { projectId, name } = command.data;
        if (state.projects.some((p) => p.projectId === projectId)) throw new IllegalStateError(`project ${projectId} already exists`);
        if (state.projects.some((p) => p.name.toLowerCase() === name.toLowerCase())) throw new IllegalStateError(`a project named "${name}" already exists`);
        const created: ProjectCreated = { type: 'tenancy.project.created', data: { projectId, name } };
        return [created];
      }
      case 'IssueApiKey': {
        const { projectId } = command.data;
        if (projectId !== null && !state.projects.some((p) => p.projectId === projectId)) throw new NotFoundError('project');
        return [issued(command.data)];
      }
      case 'RevokeApiKey': {
        const key = state.keys.find((k) => k.keyId === command.data.keyId);
        if (!key) throw new NotFoundError('API key');
        if (key.revoked) return [];
        // An organization always keeps a way in: the operator can issue a new owner key, but nobody can lock
        // the organization out by revoking the last one. Only an organization-wide owner key manages the
        // subscription, keys and settings: a project-restricted owner key does not count as a way in.
        const orgWideOwner = (k: { role: ApiKeyRole; projectId: string | null }) => k.role === 'owner' && k.projectId === null;
        if (orgWideOwner(key) && !state.keys.some((k) => k.keyId !== key.keyId && orgWideOwner(k) && !k.revoked)) {
          throw new IllegalStateError('this is the organization\'s last organization-wide owner key; issue another owner key (not restricted to a project) before revoking it');
        }
        const revoked: ApiKeyRevoked = { type: 'tenancy.api_key.revoked', data: { keyId: key.keyId } };
        return [revoked];
      }
      default: {
        const exhaustive: never = command;
        throw new Error(`unknown command ${(exhaustive as Command).type}`);
      }
    }
  },

  evolve(state, event) {
    switch (event.type) {
      case 'tenancy.organization.created':
        return { status: 'active', organizationId: event.data.organizationId, projects: [], keys: [] };
      case 'tenancy.project.created':
        return state.status === 'active' ? { ...state, projects: [...state.projects, event.data] } : state;
      case 'tenancy.api_key.issued':
        return state.status === 'active' ? { ...state, keys: [...state.keys, { keyId: event.data.keyId, role: event.data.role, projectId: event.data.projectId, revoked: false }] } : state;
      case 'tenancy.api_key.revoked':
        return state.status === 'active' ? { ...state, keys: state.keys.map((k) => (k.keyId === event.data.keyId ? { ...k, revoked: true } : k)) } : state;
      default: {
        const exhaustive: never = event;
        return exhaustive;
      }
    }
  },
};
