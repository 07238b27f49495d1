import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { billingTermsOf, createSubscription, setBillingTerms, type BillingDeps, type SubscriptionView, billingCollections } from '@curbmap/billing';
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
  const projectId = existing[0]?.id ?? (await createProject(ctx, { commandId: 'demo-seed-project', now, organizationId: org.organizationId }, 'Downtown curbs')).projectId;
  const apiKey = org.apiKey ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : null);
  // An active annual subscription, collected by bank transfer against invoices (a city with a PO). With Stripe,
  // whose default terms are card only, the seed grants invoice terms as the operator would for a city.
  let subscription = await ctx.readStore.get<SubscriptionView>(billingCollections.subscriptions, org.organizationId);
  if (!subscription || subscription.status === 'none') {
    const meta = { commandId: 'demo-seed-subscription', now, organizationId: org.organizationId };
    try {
      const terms = await billingTermsOf(ctx, billing.provider.kind, org.organizationId);
      if (!terms.collectionMethods.includes('send_invoice')) await setBillingTerms(ctx, billing.provider.kind, { ...meta, commandId: 'demo-seed-terms' }, { collectionMethods: [...terms.collectionMethods, 'send_invoice'], daysUntilDue: terms.daysUntilDue });
      await createSubscription({ ctx, ...billing }, meta, { planId: 'city', seats: 5, collectionMethod: 'send_invoice', poNumber: 'PO-DEMO-2026-001' });
    } catch (err) {
      // The platform starts whatever the demo's subscription meets (a payment provider out of reach, say).
      ctx.log.warn({ err }, 'the demo organization has no subscription yet: it could not be created at start');
    }
    subscription = await ctx.readStore.get<SubscriptionView>(billingCollections.subscriptions, org.organizationId);
  }
  return { organizationId: org.organizationId, projectId, apiKey, keyFile, created, subscription };
}
