import type { ApiKeyRole } from '@curbmap/contracts';
import { deterministicUuid, type CommandMetadata } from '@curbmap/eventsourcing';
import { NotYetVisibleError, runCommand, type ServiceContext } from '@curbmap/service-kit';
import { organizationDecider, organizationStream, type OrganizationCommand } from '../domain/organization/organizationDecider.ts';
import { generateApiKey } from './apiKeySecrets.ts';

// Answers wait for the read models: a new key works at once, a revoked one stops at once.
const run = (ctx: ServiceContext, organizationId: string, command: OrganizationCommand) => runCommand(ctx, organizationDecider, organizationStream(organizationId), command);

/**
 * A command whose answer carries what the client cannot find otherwise (a secret shown once, a new id): committed,
 * it is answered with it even when another service's read model has not caught up yet (`visible: false`, answered
 * 202), or it would be lost with the answer.
 */
async function runAnswering(ctx: ServiceContext, organizationId: string, command: OrganizationCommand) {
  const result = await runCommand(ctx, organizationDecider, organizationStream(organizationId), command, { consistent: false });
  let visible = true;
  if (result.write) {
    await ctx.waitForReadModels(result.write).catch((err: unknown) => {
      if (!(err instanceof NotYetVisibleError)) throw err;
      visible = false;
    });
  }
  return { ...result, visible };
}

export interface NewOrganization {
  name: string;
  billingEmail: string;
  currency: string;
  timeZone: string;
}

export async function createOrganization(ctx: ServiceContext, meta: Omit<CommandMetadata, 'organizationId'>, input: NewOrganization) {
  // The id derives from the command id, so a retried request lands on the same organization.
  const organizationId = deterministicUuid(`${meta.commandId}:organization`);
  const secret = generateApiKey();
  // So is the owner key's id: a replay answers with the key that exists (its secret is not shown again).
  const ownerKey = { keyId: deterministicUuid(`${meta.commandId}:owner-key`), name: 'owner', role: 'owner' as const, projectId: null, keyHash: secret.keyHash, prefix: secret.prefix };
  const result = await runAnswering(ctx, organizationId, { type: 'CreateOrganization', data: { organizationId, ...input, ownerKey }, metadata: { ...meta, organizationId } });
  return { organizationId, apiKey: result.replayed ? null : secret.key, keyId: ownerKey.keyId, visible: result.visible };
}

export async function createProject(ctx: ServiceContext, meta: CommandMetadata, name: string) {
  const projectId = deterministicUuid(`${meta.commandId}:project`);
  const { visible } = await runAnswering(ctx, meta.organizationId, { type: 'CreateProject', data: { projectId, name }, metadata: meta });
  return { projectId, visible };
}

export async function issueApiKey(ctx: ServiceContext, meta: CommandMetadata, input: { name: string; role: ApiKeyRole; projectId: string | null }) {
  const secret = generateApiKey();
  const keyId = deterministicUuid(`${meta.commandId}:api-key`);
  const result = await runAnswering(ctx, meta.organizationId, { type: 'IssueApiKey', data: { keyId, ...input, keyHash: secret.keyHash, prefix: secret.prefix }, metadata: meta });
  return { keyId, key: result.replayed ? null : secret.key, visible: result.visible };
}

export async function revokeApiKey(ctx: ServiceContext, meta: CommandMetadata, keyId: string) {
  await run(ctx, meta.organizationId, { type: 'RevokeApiKey', data: { keyId }, metadata: meta });
}
