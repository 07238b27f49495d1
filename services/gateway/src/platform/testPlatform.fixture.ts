import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { defaultPlans } from '@curbmap/contracts';
import type { ServiceModule } from '@curbmap/service-kit';
import { startEmbeddedPlatform, type EmbeddedPlatform } from './embeddedPlatform.ts';
import { createModules, type ModulesOptions, type PlatformModules } from './modules.ts';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestPlatform extends EmbeddedPlatform {
  dataDir: string;
  modules: PlatformModules;
  /** Creates an organization through the API and returns its id and owner key. */
  createOrganization(name?: string, extra?: Record<string, unknown>): Promise<{ id: string; apiKey: string }>;
  /** Number of events in the log once the platform is quiet: proves a refused request wrote nothing. */
  eventCount(): Promise<number>;
}

/** A whole embedded platform on a temporary directory, for tests through app.inject. */
export interface TestPlatformOptions {
  modules?: Partial<ModulesOptions>;
  /** Services hosted besides the platform's own (tests of the kernel's failure handling). */
  extraModules?: ServiceModule[];
  rateLimitPerMinute?: number;
  unauthenticatedPerMinute?: number;
  dataDir?: string;
  now?: () => Date;
  readYourWritesTimeoutMs?: number;
  /** PostgreSQL instead of SQLite (a private cluster's database). */
  databaseUrl?: string;
  /** A MongoDB-wire server's database URL: read models and checkpoints there (FerretDB in tests). */
  mongoUrl?: string;
  /** A private broker's addresses (with databaseUrl): subscriptions consume Kafka, this process relays the log. */
  kafkaBrokers?: string[];
  /** TRUST_PROXY. */
  trustProxy?: boolean | number | string[];
}

export async function startTestPlatform(options: TestPlatformOptions = {}): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'curbmap-test-'));
  const modules = createModules({ dataDir, billingSchedulerIntervalMs: 3_600_000, exportScheduleIntervalMs: 3_600_000, usageCloseIntervalMs: 3_600_000, apiUsageFlushMs: 3_600_000, renderPdfsOnIssue: false, ...options.modules });
  const platform = await startEmbeddedPlatform({
    dataDir,
    logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    modules: [...modules.all, ...(options.extraModules ?? [])],
    adminToken: TEST_ADMIN_TOKEN,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 100_000,
    unauthenticatedPerMinute: options.unauthenticatedPerMinute ?? 1000,
    ...(options.now ? { now: options.now } : {}),
    ...(options.readYourWritesTimeoutMs ? { readYourWritesTimeoutMs: options.readYourWritesTimeoutMs } : {}),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.mongoUrl ? { mongoUrl: options.mongoUrl } : {}),
    ...(options.kafkaBrokers ? { kafkaBrokers: options.kafkaBrokers } : {}),
    ...(options.trustProxy !== undefined ? { trustProxy: options.trustProxy } : {}),
  });
  return {
    ...platform,
    dataDir,
    modules,
    async createOrganization(name = 'City of Springfield', extra = {}) {
      const res = await platform.app.inject({
        method: 'POST',
        url: '/v1/organizations',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        payload: { name, billingEmail: 'ap@springfield.example', timeZone: 'America/Chicago', ...extra },
      });
      if (res.statusCode !== 201) throw new Error(`creating organization failed: ${res.statusCode} ${res.body}`);
      const body = res.json() as { id: string; apiKey: string };
      return { id: body.id, apiKey: body.apiKey };
    },
    async eventCount() {
      // Counted once the platform is quiet: reactions to earlier requests (processes lingering to batch
      // appends) land before, not in the middle of, what a test compares.
      await platform.settle();
      let n = 0;
      for await (const _ of platform.ctx.store.readAll()) n++;
      return n;
    },
    async close() {
      await platform.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A plans file: the built-in catalogue with the City plan including `included` export jobs a year (default one) and
 * billing each further one at $25.00 (€23.00, ¥3,800). `remove` deletes it.
 */
export function exportOveragePlans(included = 1): { plansFile: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-plans-'));
  const plans = defaultPlans.map((plan) => (plan.id === 'city' ? { ...plan, includedUsage: { ...plan.includedUsage, export_jobs: included }, overage: { ...plan.overage, export_jobs: { unitSize: 1, prices: { USD: 2_500, EUR: 2_300, JPY: 3_800 } } } } : plan));
  const plansFile = join(dir, 'plans.json');
  writeFileSync(plansFile, JSON.stringify(plans));
  return { plansFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
