import { createAjv } from '@curbmap/contracts';

/** Where customers paying by bank transfer send the money: the platform operator's account. */
export interface BankDetails {
  bank: string;
  accountHolder: string;
  /** An IBAN (checked), or an account number with a routing number (US ACH/wire). */
  iban: string | null;
  accountNumber: string | null;
  routingNumber: string | null;
  swiftBic: string | null;
  /** What the transfer's reference must say; `{number}` is the invoice number. */
  reference: string;
}

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
  /** How often ended subscription years are looked for and closed. */
  usageCloseIntervalMs: number;
  /** CURBMAP_RENEWAL_NOTICE_DAYS: how many days before a renewal its notices go (the nearer one only, when both are due). */
  renewalNoticeDays: number[];
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
  /** MONGO_URL: the read models and checkpoints on MongoDB; the events stay in PostgreSQL or SQLite. */
  mongoUrl: string | null;
  /** KURRENTDB_URL: the events in KurrentDB/EventStoreDB; read models stay in PostgreSQL, SQLite or MONGO_URL. */
  kurrentdbUrl: string | null;
  /** S3_BUCKET (S3_URL for a server other than AWS's): exports and invoice PDFs in a bucket shared by machines. */
  s3: { url: string | null; bucket: string } | null;
  /** KAFKA_BROKERS (with DATABASE_URL): distributed mode, subscriptions on Kafka, the log relayed from here. */
  kafkaBrokers: string[] | null;
  /**
   * KAFKA_PARTITIONS (default 6): partitions of each topic the platform creates, so at most that many processes
   * of a service share its work. Topics keep the count they were made with (deployment.md: changing it).
   */
  kafkaPartitions: number;
  /**
   * SERVICE_URLS (`usage=http://127.0.0.1:4103,…`): services in their own processes, their routes forwarded. A
   * service named more than once (`usage=http://…:4103,usage=http://…:4113`) runs in several processes.
   */
  serviceUrls: Record<string, string[]>;
  /** CURBMAP_INTERNAL_SECRET: signs what the gateway forwards to services (required with SERVICE_URLS). */
  internalSecret: string | null;
  /** CURBMAP_REMITTANCE_*: the operator's bank details, printed on invoices paid by transfer (null: not set). */
  remittance: BankDetails | null;
  /**
   * CURBMAP_CLOCK_FILE (simulations and tests only): the platform's time is the instant written in this file, read
   * at every look, so a simulation can move every process through years in minutes. Unset: the machine's clock.
   */
  clockFile: string | null;
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
    USAGE_CLOSE_INTERVAL_SECONDS: { type: 'integer', minimum: 1, default: 60 },
    CURBMAP_RENEWAL_NOTICE_DAYS: { type: 'string', pattern: '^[1-9][0-9]{0,2}(,[1-9][0-9]{0,2}){0,4}$', default: '30,7' },
    STRIPE_SECRET_KEY: { type: 'string', pattern: '^(sk|rk)_(test|live)_' },
    STRIPE_WEBHOOK_SECRET: { type: 'string', pattern: '^whsec_' },
    STRIPE_API_BASE: { type: 'string', format: 'uri' },
    SMTP_URL: { type: 'string', pattern: '^smtps?://' },
    MAIL_FROM: { type: 'string', minLength: 3, default: 'CurbMap Billing <billing@curbmap.localhost>' },
    MAIL_REPLY_TO: { type: 'string', minLength: 3, default: 'billing-support@curbmap.localhost' },
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: { type: 'boolean', default: false },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    MONGO_URL: { type: 'string', pattern: '^mongodb(\\+srv)?://' },
    KURRENTDB_URL: { type: 'string', pattern: '^(kurrentdb|esdb)(\\+discover)?://' },
    S3_URL: { type: 'string', pattern: '^https?://' },
    S3_BUCKET: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
    KAFKA_BROKERS: { type: 'string', pattern: '^[^,\\s]+:\\d+(,[^,\\s]+:\\d+)*$' },
    KAFKA_PARTITIONS: { type: 'integer', minimum: 1, maximum: 1000, default: 6 },
    SERVICE_URLS: { type: 'string', pattern: '^[a-z]+=https?://[^,\\s]+(,[a-z]+=https?://[^,\\s]+)*$' },
    CURBMAP_INTERNAL_SECRET: { type: 'string', minLength: 32 },
    CURBMAP_REMITTANCE_BANK: { type: 'string', minLength: 2, maxLength: 120 },
    CURBMAP_REMITTANCE_ACCOUNT_HOLDER: { type: 'string', minLength: 2, maxLength: 120 },
    CURBMAP_REMITTANCE_IBAN: { type: 'string', pattern: '^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{11,36}$' },
    CURBMAP_REMITTANCE_ACCOUNT_NUMBER: { type: 'string', pattern: '^[0-9A-Za-z -]{4,34}$' },
    CURBMAP_REMITTANCE_ROUTING_NUMBER: { type: 'string', pattern: '^[0-9]{9}$' },
    CURBMAP_REMITTANCE_SWIFT_BIC: { type: 'string', pattern: '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$' },
    CURBMAP_REMITTANCE_REFERENCE: { type: 'string', minLength: 3, maxLength: 200, default: 'the invoice number {number}' },
    CURBMAP_CLOCK_FILE: { type: 'string', minLength: 1 },
  },
} as const;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const validate = createAjv().compile(schema);

/** Every environment variable the platform reads (deployment files are checked against it). */
export const CONFIG_NAMES: readonly string[] = Object.keys(schema.properties);

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
  if (raw['S3_URL'] && !raw['S3_BUCKET']) problems.push('S3_URL needs S3_BUCKET: the bucket that exports and invoice PDFs go to');
  if (raw['SERVICE_URLS'] && !raw['CURBMAP_INTERNAL_SECRET']) problems.push('SERVICE_URLS needs CURBMAP_INTERNAL_SECRET, shared with the services, to sign what the gateway forwards');
  // A notice a year or more ahead would go right after the renewal before.
  if (String(raw['CURBMAP_RENEWAL_NOTICE_DAYS'] ?? '').split(',').some((d) => Number(d) > 364)) problems.push('CURBMAP_RENEWAL_NOTICE_DAYS: each at most 364 days before the renewal');
  const remittance = remittanceOf(raw, problems);
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return {
    remittance,
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
    usageCloseIntervalMs: (raw['USAGE_CLOSE_INTERVAL_SECONDS'] as number) * 1000,
    renewalNoticeDays: [...new Set(String(raw['CURBMAP_RENEWAL_NOTICE_DAYS']).split(',').map(Number))].sort((a, b) => b - a),
    stripe: raw['STRIPE_SECRET_KEY']
      ? { secretKey: raw['STRIPE_SECRET_KEY'] as string, webhookSecret: (raw['STRIPE_WEBHOOK_SECRET'] as string | undefined) ?? null, apiBase: (raw['STRIPE_API_BASE'] as string | undefined) ?? null }
      : null,
    smtpUrl: (raw['SMTP_URL'] as string | undefined) ?? null,
    mailFrom: raw['MAIL_FROM'] as string,
    mailReplyTo: raw['MAIL_REPLY_TO'] as string,
    webhookAllowPrivateNetworks: raw['WEBHOOK_ALLOW_PRIVATE_NETWORKS'] as boolean,
    databaseUrl: (raw['DATABASE_URL'] as string | undefined) ?? null,
    mongoUrl: (raw['MONGO_URL'] as string | undefined) ?? null,
    kurrentdbUrl: (raw['KURRENTDB_URL'] as string | undefined) ?? null,
    s3: raw['S3_BUCKET'] ? { url: (raw['S3_URL'] as string | undefined) ?? null, bucket: raw['S3_BUCKET'] as string } : null,
    kafkaBrokers: raw['KAFKA_BROKERS'] ? (raw['KAFKA_BROKERS'] as string).split(',') : null,
    kafkaPartitions: raw['KAFKA_PARTITIONS'] as number,
    serviceUrls: serviceUrlsOf((raw['SERVICE_URLS'] as string | undefined) ?? ''),
    internalSecret: (raw['CURBMAP_INTERNAL_SECRET'] as string | undefined) ?? null,
    clockFile: (raw['CURBMAP_CLOCK_FILE'] as string | undefined) ?? null,
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

/** Is this an IBAN whose check digits hold (ISO 13616: the number read as digits, mod 97, is 1)? */
export function validIban(value: string): boolean {
  const iban = value.replace(/ /g, '');
  if (!/^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const digits = (iban.slice(4) + iban.slice(0, 4)).replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rest = 0;
  for (const d of digits) rest = (rest * 10 + Number(d)) % 97;
  return rest === 1;
}

/** The operator's bank details from CURBMAP_REMITTANCE_*: all or nothing, an account to pay into, a valid IBAN. */
function remittanceOf(raw: Record<string, unknown>, problems: string[]): BankDetails | null {
  const get = (key: string) => (raw[`CURBMAP_REMITTANCE_${key}`] as string | undefined) ?? null;
  const given = ['BANK', 'ACCOUNT_HOLDER', 'IBAN', 'ACCOUNT_NUMBER', 'ROUTING_NUMBER', 'SWIFT_BIC'].filter((k) => get(k) !== null);
  if (given.length === 0) return null;
  const iban = get('IBAN');
  const accountNumber = get('ACCOUNT_NUMBER');
  if (!get('BANK') || !get('ACCOUNT_HOLDER')) problems.push('CURBMAP_REMITTANCE_* needs CURBMAP_REMITTANCE_BANK and CURBMAP_REMITTANCE_ACCOUNT_HOLDER');
  if (!iban && !accountNumber) problems.push('CURBMAP_REMITTANCE_* needs CURBMAP_REMITTANCE_IBAN or CURBMAP_REMITTANCE_ACCOUNT_NUMBER: an account to pay into');
  if (iban && !validIban(iban)) problems.push('CURBMAP_REMITTANCE_IBAN is not a valid IBAN (its check digits do not hold)');
  return { bank: get('BANK') ?? '', accountHolder: get('ACCOUNT_HOLDER') ?? '', iban: iban ? iban.replace(/ /g, '').replace(/(.{4})/g, '$1 ').trim() : null, accountNumber, routingNumber: get('ROUTING_NUMBER'), swiftBic: get('SWIFT_BIC'), reference: raw['CURBMAP_REMITTANCE_REFERENCE'] as string };
}

/** `usage=http://a,usage=http://b,billing=http://c` → { usage: [a, b], billing: [c] }, in the order given. */
function serviceUrlsOf(text: string): Record<string, string[]> {
  const urls: Record<string, string[]> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    (urls[pair.slice(0, at)] ??= []).push(pair.slice(at + 1));
  }
  return urls;
}
