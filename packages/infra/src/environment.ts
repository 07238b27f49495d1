/** Where the stores of a distributed installation answer. */
export interface DistributedStores {
  dataDir: string;
  databaseUrl: string;
  /** The events in KurrentDB instead of PostgreSQL (empty: not). */
  kurrentdbUrl?: string;
  kafkaBrokers: string[];
  mongoUrl: string;
  s3: { url: string; bucket: string; accessKeyId: string; secretAccessKey: string; region: string };
  smtpUrl: string;
  internalSecret: string;
}

/**
 * A service process's environment in distributed mode. `make up-distributed` and docker-compose.yml set exactly
 * these names (packages/infra/src/composeFile.int.spec.ts compares them), so neither can drift from the other.
 */
export function serviceEnvironment(stores: DistributedStores, listen: { host: string; port: number }): Record<string, string> {
  return {
    CURBMAP_DATA_DIR: stores.dataDir,
    DATABASE_URL: stores.databaseUrl,
    KURRENTDB_URL: stores.kurrentdbUrl ?? '',
    KAFKA_BROKERS: stores.kafkaBrokers.join(','),
    MONGO_URL: stores.mongoUrl,
    S3_URL: stores.s3.url,
    S3_BUCKET: stores.s3.bucket,
    AWS_ACCESS_KEY_ID: stores.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: stores.s3.secretAccessKey,
    AWS_REGION: stores.s3.region,
    SMTP_URL: stores.smtpUrl,
    CURBMAP_INTERNAL_SECRET: stores.internalSecret,
    HOST: listen.host,
    PORT: String(listen.port),
  };
}

/** The gateway's: a service's, with the services it forwards to, the admin token and its public URL. */
export function gatewayEnvironment(stores: DistributedStores, listen: { host: string; port: number }, gateway: { serviceUrls: Record<string, string | string[]>; adminToken: string; publicUrl: string }): Record<string, string> {
  return {
    ...serviceEnvironment(stores, listen),
    SERVICE_URLS: Object.entries(gateway.serviceUrls).flatMap(([name, urls]) => [urls].flat().map((url) => `${name}=${url}`)).join(','),
    CURBMAP_ADMIN_TOKEN: gateway.adminToken,
    PUBLIC_URL: gateway.publicUrl,
  };
}
