import { createAjv } from '@curbmap/contracts';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Platform admin token; generated on first start when unset. */
  adminToken: string | null;
  /** CURBMAP_DOWNLOAD_SECRET: signs export download links (generated into the data directory when unset). */
  downloadSecret: string | null;
  /** Requests per minute per API key (or per client address without a key). */
  rateLimitPerMinute: number;
  /** Failed authentications (missing or unknown key, wrong admin token) per client address per minute. */
  unauthenticatedPerMinute: number;
  /** Seed a demo organization on first start (`make up` turns it on; the server's default is off). */
  seedDemo: boolean;
  /** Public base URL used in printed links. */
  publicUrl: string | null;
  /**
   * TRUST_PROXY: the gateway is behind a proxy that terminates TLS: `true` (trust every hop), a number of hops,
   * or the proxies' addresses/CIDRs (comma separated). Client addresses and https then come from X-Forwarded-*.
   */
  trustProxy: boolean | number | string[];
  /** A JSON plan catalogue replacing the default one. */
  plansFile: string | null;
  billingSchedulerIntervalMs: number;
  /** Set: payments are collected through Stripe (test mode with sk_test_…). */
  stripe: { secretKey: string; webhookSecret: string | null; apiBase: string | null } | null;
  /** SMTP_URL: where mail goes; unset, the platform keeps mail in a local sink (`<data>/mail/*.eml`). */
  smtpUrl: string | null;
  mailFrom: string;
  mailReplyTo: string;
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: webhook endpoints on loopback or private addresses (development only). */
  webhookAllowPrivateNetworks: boolean;
  /** DATABASE_URL: PostgreSQL instead of the embedded SQLite file. */
  databaseUrl: string | null;
  /** KAFKA_BROKERS (with DATABASE_URL): distributed mode, subscriptions on Kafka, the log relayed from here. */
  kafkaBrokers: string[] | null;
  /** SERVICE_URLS (`usage=http://127.0.0.1:4103,…`): services in their own processes, their routes forwarded. */
  serviceUrls: Record<string, string>;
  /** CURBMAP_INTERNAL_SECRET: signs what the gateway forwards to services (required with SERVICE_URLS). */
  internalSecret: string | null;
}

const schema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    HOST: { type: 'string', minLength: 1, default: '0.0.0.0' },
    CURBMAP_DATA_DIR: { type: 'string', minLength: 1, default: './data' },
    LOG_LEVEL: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    CURBMAP_ADMIN_TOKEN: { type: 'string', minLength: 24 },
    CURBMAP_DOWNLOAD_SECRET: { type: 'string', minLength: 32 },
    RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 1, default: 6000 },
    RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: { type: 'integer', minimum: 1, default: 60 },
    CURBMAP_SEED_DEMO: { type: 'boolean', default: false },
    PUBLIC_URL: { type: 'string', format: 'uri' },
    TRUST_PROXY: { type: 'string', pattern: '^(true|false|[0-9]{1,2}|[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*)$', default: 'false' },
    CURBMAP_PLANS_FILE: { type: 'string', minLength: 1 },
    BILLING_SCHEDULER_INTERVAL_SECONDS: { type: 'integer', minimum: 1, default: 60 },
    STRIPE_SECRET_KEY: { type: 'string', pattern: '^(sk|rk)_(test|live)_' },
    STRIPE_WEBHOOK_SECRET: { type: 'string', pattern: '^whsec_' },
    STRIPE_API_BASE: { type: 'string', format: 'uri' },
    SMTP_URL: { type: 'string', pattern: '^smtps?://' },
    MAIL_FROM: { type: 'string', minLength: 3, default: 'CurbMap Billing <billing@curbmap.localhost>' },
    MAIL_REPLY_TO: { type: 'string', minLength: 3, default: 'billing-support@curbmap.localhost' },
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: { type: 'boolean', default: false },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    KAFKA_BROKERS: { type: 'string', pattern: '^[^,\\s]+:\\d+(,[^,\\s]+:\\d+)*$' },
    SERVICE_URLS: { type: 'string', pattern: '^[a-z]+=https?://[^,\\s]+(,[a-z]+=https?://[^,\\s]+)*$' },
    CURBMAP_INTERNAL_SECRET: { type: 'string', minLength: 32 },
  },
} as const;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const validate = createAjv().compile(schema);

/** Reads the environment once; anything malformed stops start-up with every problem listed. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema.properties as Record<string, { type?: string; default?: unknown }>)) {
    const value = env[key];
    if (value === undefined || value === '') {
      if (spec.default !== undefined) raw[key] = spec.default;
      continue;
    }
    // Environment values are strings: convert only what clearly is a number or a boolean, let ajv reject the rest.
    raw[key] = spec.type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : spec.type === 'boolean' && /^(true|false|1|0)$/.test(value) ? value === 'true' || value === '1' : value;
  }
  const problems = validate(raw) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath.slice(1) || 'environment'} ${e.message}`);
  // Half a Stripe set-up is a mistake, not a mode: webhooks that cannot be applied, or payments never confirmed.
  if (raw['STRIPE_WEBHOOK_SECRET'] && !raw['STRIPE_SECRET_KEY']) problems.push('STRIPE_WEBHOOK_SECRET is set without STRIPE_SECRET_KEY: set both to collect through Stripe, or neither');
  if (raw['STRIPE_SECRET_KEY'] && !raw['STRIPE_WEBHOOK_SECRET']) problems.push('STRIPE_SECRET_KEY is set without STRIPE_WEBHOOK_SECRET: Stripe confirms payments by webhook, so set both, or neither');
  if (raw['KAFKA_BROKERS'] && !raw['DATABASE_URL']) problems.push('KAFKA_BROKERS needs DATABASE_URL: the services of a distributed installation share one store');
  if (raw['SERVICE_URLS'] && !raw['CURBMAP_INTERNAL_SECRET']) problems.push('SERVICE_URLS needs CURBMAP_INTERNAL_SECRET, shared with the services, to sign what the gateway forwards');
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return {
    port: raw['PORT'] as number,
    host: raw['HOST'] as string,
    dataDir: raw['CURBMAP_DATA_DIR'] as string,
    logLevel: raw['LOG_LEVEL'] as Config['logLevel'],
    adminToken: (raw['CURBMAP_ADMIN_TOKEN'] as string | undefined) ?? null,
    downloadSecret: (raw['CURBMAP_DOWNLOAD_SECRET'] as string | undefined) ?? null,
    rateLimitPerMinute: raw['RATE_LIMIT_PER_MINUTE'] as number,
    unauthenticatedPerMinute: raw['RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE'] as number,
    seedDemo: raw['CURBMAP_SEED_DEMO'] as boolean,
    publicUrl: (raw['PUBLIC_URL'] as string | undefined) ?? null,
    trustProxy: parseTrustProxy(raw['TRUST_PROXY'] as string),
    plansFile: (raw['CURBMAP_PLANS_FILE'] as string | undefined) ?? null,
    billingSchedulerIntervalMs: (raw['BILLING_SCHEDULER_INTERVAL_SECONDS'] as number) * 1000,
    stripe: raw['STRIPE_SECRET_KEY']
      ? { secretKey: raw['STRIPE_SECRET_KEY'] as string, webhookSecret: (raw['STRIPE_WEBHOOK_SECRET'] as string | undefined) ?? null, apiBase: (raw['STRIPE_API_BASE'] as string | undefined) ?? null }
      : null,
    smtpUrl: (raw['SMTP_URL'] as string | undefined) ?? null,
    mailFrom: raw['MAIL_FROM'] as string,
    mailReplyTo: raw['MAIL_REPLY_TO'] as string,
    webhookAllowPrivateNetworks: raw['WEBHOOK_ALLOW_PRIVATE_NETWORKS'] as boolean,
    databaseUrl: (raw['DATABASE_URL'] as string | undefined) ?? null,
    kafkaBrokers: raw['KAFKA_BROKERS'] ? (raw['KAFKA_BROKERS'] as string).split(',') : null,
    serviceUrls: Object.fromEntries(((raw['SERVICE_URLS'] as string | undefined) ?? '').split(',').filter(Boolean).map((pair) => pair.split('=') as [string, string])),
    internalSecret: (raw['CURBMAP_INTERNAL_SECRET'] as string | undefined) ?? null,
  };
}

/** A process's configuration, or exit code 2 with every problem listed (a mistake to fix, not a crash). */
export function configOrExit<C>(read: () => C): C {
  try {
    return read();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`curbmap: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/** TRUST_PROXY as fastify takes it: true/false, a number of hops, or a list of addresses and CIDRs. */
export function parseTrustProxy(value: string): boolean | number | string[] {
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^[0-9]+$/.test(value)) return Number(value);
  return value.split(',').map((a) => a.trim());
}
