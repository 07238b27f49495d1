import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceContext } from '@curbmap/service-kit';
import { createOrganization, createProject } from '../application/tenancyCommands.ts';
import { tenancyCollections, type ProjectView } from '../projections/tenancyProjection.ts';

export interface DemoOrganization {
  organizationId: string;
  projectId: string;
  apiKey: string | null;
}

/** Seeds the demo organization once; its owner key is written to <dataDir>/demo-api-key. */
export async function seedDemo(ctx: ServiceContext, dataDir: string): Promise<DemoOrganization & { created: boolean }> {
  const keyFile = join(dataDir, 'demo-api-key');
  const now = ctx.now().toISOString();
  const org = await createOrganization(ctx, { commandId: 'demo-seed', now }, {
    name: 'Demo City Transportation',
    billingEmail: 'billing@demo-city.example',
    currency: 'USD',
    timeZone: 'America/New_York',
  });
  const created = org.apiKey !== null;
  if (created) writeFileSync(keyFile, `${org.apiKey}\n`, { mode: 0o600 });
  const existing = await ctx.readStore.find<ProjectView>(tenancyCollections.projects, { organizationId: org.organizationId }, { limit: 1 });
  const projectId = existing[0]?.id ?? (await createProject(ctx, { commandId: 'demo-seed-project', now, organizationId: org.organizationId }, 'Downtown curbs'));
  const apiKey = org.apiKey ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : null);
  return { organizationId: org.organizationId, projectId, apiKey, created };
}
