import { describe, it } from 'vitest';
import type { TenancyEvent } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { organizationDecider, type NewKey, type OrganizationCommand } from './organizationDecider.ts';

const ORG = '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
const PROJECT = '0b7a4f0e-2f1d-4c55-8d0e-5b9a1e3c6d02';
const metadata: CommandMetadata = { commandId: 'cmd-1', now: '2026-11-25T12:00:00.000Z', organizationId: ORG };
const key = (keyId: string, extra: Partial<NewKey> = {}): NewKey => ({ keyId, name: 'ci', role: 'member', projectId: null, keyHash: 'a'.repeat(64), prefix: 'cmk_abcd1234', ...extra });
const cmd = <C extends OrganizationCommand>(type: C['type'], data: C['data']) => ({ type, data, metadata }) as OrganizationCommand;

const orgData = { organizationId: ORG, name: 'City of Springfield', billingEmail: 'ap@springfield.gov', currency: 'USD', timeZone: 'America/Chicago' };
const created: TenancyEvent = { type: 'tenancy.organization.created', data: orgData };
const ownerIssued: TenancyEvent = { type: 'tenancy.api_key.issued', data: key('k-owner', { role: 'owner', name: 'owner' }) };
const projectCreated: TenancyEvent = { type: 'tenancy.project.created', data: { projectId: PROJECT, name: 'Downtown curbs' } };

const spec = deciderSpec(organizationDecider);

describe('organization decider', () => {
  it('creates an organization together with its owner key', () => {
    spec
      .given([])
      .when(cmd('CreateOrganization', { ...orgData, ownerKey: key('k-owner', { role: 'member', name: 'owner', projectId: PROJECT }) }))
      .then([created, ownerIssued]);
  });

  it('refuses to create an organization twice', () => {
    spec.given([created]).when(cmd('CreateOrganization', { ...orgData, ownerKey: key('k2') })).thenThrows(IllegalStateError, /already exists/);
  });

  it('needs the organization before anything else', () => {
    spec.given([]).when(cmd('CreateProject', { projectId: PROJECT, name: 'x' })).thenThrows(NotFoundError, /organization/);
  });

  it('creates projects with unique names', () => {
    spec.given([created]).when(cmd('CreateProject', { projectId: PROJECT, name: 'Downtown curbs' })).then([projectCreated]);
    spec.given([created, projectCreated]).when(cmd('CreateProject', { projectId: ORG, name: 'downtown CURBS' })).thenThrows(IllegalStateError, /named/);
  });

  it('issues keys restricted to one of its own projects only', () => {
    const restricted = key('k-p', { projectId: PROJECT });
    spec.given([created, projectCreated]).when(cmd('IssueApiKey', restricted)).then([{ type: 'tenancy.api_key.issued', data: restricted }]);
    spec.given([created]).when(cmd('IssueApiKey', restricted)).thenThrows(NotFoundError, /project/);
  });

  it('revokes a key once; revoking again changes nothing', () => {
    const memberIssued: TenancyEvent = { type: 'tenancy.api_key.issued', data: key('k-member') };
    const revoked: TenancyEvent = { type: 'tenancy.api_key.revoked', data: { keyId: 'k-member' } };
    spec.given([created, ownerIssued, memberIssued]).when(cmd('RevokeApiKey', { keyId: 'k-member' })).then([revoked]);
    spec.given([created, ownerIssued, memberIssued, revoked]).when(cmd('RevokeApiKey', { keyId: 'k-member' })).then([]);
    spec.given([created, ownerIssued]).when(cmd('RevokeApiKey', { keyId: 'nope' })).thenThrows(NotFoundError, /API key/);
  });

  it('never revokes the last owner key that works', () => {
    const secondOwner: TenancyEvent = { type: 'tenancy.api_key.issued', data: key('k-owner-2', { role: 'owner' }) };
    const revokedFirst: TenancyEvent = { type: 'tenancy.api_key.revoked', data: { keyId: 'k-owner' } };
    spec.given([created, ownerIssued]).when(cmd('RevokeApiKey', { keyId: 'k-owner' })).thenThrows(IllegalStateError, /last organization-wide owner key/);
    spec.given([created, ownerIssued, secondOwner]).when(cmd('RevokeApiKey', { keyId: 'k-owner' })).then([revokedFirst]);
    spec.given([created, ownerIssued, secondOwner, revokedFirst]).when(cmd('RevokeApiKey', { keyId: 'k-owner-2' })).thenThrows(IllegalStateError, /last organization-wide owner key/);
  });

  it('does not count a project-restricted owner key as a way in', () => {
    const project: TenancyEvent = { type: 'tenancy.project.created', data: { projectId: 'p-1', name: 'Downtown' } };
    const restrictedOwner: TenancyEvent = { type: 'tenancy.api_key.issued', data: key('k-owner-p', { role: 'owner', projectId: 'p-1' }) };
    spec.given([created, ownerIssued, project, restrictedOwner]).when(cmd('RevokeApiKey', { keyId: 'k-owner' })).thenThrows(IllegalStateError, /last organization-wide owner key/);
    spec.given([created, ownerIssued, project, restrictedOwner]).when(cmd('RevokeApiKey', { keyId: 'k-owner-p' })).then([{ type: 'tenancy.api_key.revoked', data: { keyId: 'k-owner-p' } }]);
  });
});
