import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSubscription, type BillingDeps, type SubscriptionView, billingCollections } from '@curbmap/billing';
import type { ServiceContext } from '@curbmap/service-kit';
import { createOrganization, createProject } from '../application/tenancyCommands.ts';
import { tenancyCollections, type ProjectView } from '../projections/tenancyProjection.ts';

export interface DemoOrganization {
  organizationId: string;
  projectId: string;
  apiKey: string | null;
  /** Where the owner key is kept. */
  keyFile: string;
}

/** Seeds the demo organization once; its owner key is written to <dataDir>/demo-api-key. */
export async function seedDemo(ctx: ServiceContext, dataDir: string, billing: Omit<BillingDeps, 'ctx'>): Promise<DemoOrganization & { created: boolean; subscription: SubscriptionView | null }> {
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
  // An active annual subscription, collected by bank transfer against invoices (a city with a PO).
  let subscription = await ctx.readStore.get<SubscriptionView>(billingCollections.subscriptions, org.organizationId);
  if (!subscription || subscription.status === 'none') {
    await createSubscription({ ctx, ...billing }, { commandId: 'demo-seed-subscription', now, organizationId: org.organizationId }, { planId: 'city', seats: 5, collectionMethod: 'send_invoice', poNumber: 'PO-DEMO-2026-001' });
    subscription = await ctx.readStore.get<SubscriptionView>(billingCollections.subscriptions, org.organizationId);
  }
  return { organizationId: org.organizationId, projectId, apiKey, keyFile, created, subscription };
}
