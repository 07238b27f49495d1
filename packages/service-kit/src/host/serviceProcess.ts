import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { startProjection, type StreamWrite, type Subscription } from '@curbmap/eventsourcing';
import { buildServiceApp } from '../http/serviceApp.ts';
import { NotYetVisibleError } from '../problem.ts';
import type { Running, ServiceContext, ServiceModule } from '../serviceModule.ts';
import { openStorage } from './storage.ts';

/** What a service process reads from its environment (distributed mode). */
export interface ServiceProcessConfig {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  kafkaBrokers: string[];
  internalSecret: string;
  logLevel: string;
}

export class ServiceConfigError extends Error {}

/** The environment of `node services/<name>/dist/main.js`; what is missing is named. */
export function serviceProcessConfig(env: NodeJS.ProcessEnv = process.env): ServiceProcessConfig {
  const need = (name: string) => {
    const value = env[name];
    if (!value) throw new ServiceConfigError(`${name} is required: a service process runs in distributed mode (see docs/architecture/deployment.md)`);
    return value;
  };
  const port = Number(env['PORT'] ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ServiceConfigError(`PORT must be a port number, not ${env['PORT']}`);
  const internalSecret = need('CURBMAP_INTERNAL_SECRET');
  if (internalSecret.length < 32) throw new ServiceConfigError('CURBMAP_INTERNAL_SECRET must be at least 32 characters');
  return {
    port,
    host: env['HOST'] ?? '127.0.0.1',
    dataDir: need('CURBMAP_DATA_DIR'),
    databaseUrl: need('DATABASE_URL'),
    kafkaBrokers: need('KAFKA_BROKERS').split(',').map((b) => b.trim()).filter(Boolean),
    internalSecret,
    logLevel: env['LOG_LEVEL'] ?? 'info',
  };
}

export interface ServiceProcess {
  url: string;
  ctx: ServiceContext;
  close(): Promise<void>;
}

/**
 * One service in its own process: its projections and process managers fed by Kafka, PostgreSQL as the shared
 * store, and its routes behind the gateway (which forwards them with its signed decision).
 */
export async function startServiceProcess(module: ServiceModule, config: ServiceProcessConfig, logger: Logger = pino({ level: config.logLevel })): Promise<ServiceProcess> {
  const log = logger.child({ service: module.name });
  const storage = await openStorage(config.dataDir, [module], log, { databaseUrl: config.databaseUrl, kafkaBrokers: config.kafkaBrokers, clientId: `curbmap-${module.name}` });
  const projections: Subscription[] = [];
  const ctx: ServiceContext = {
    store: storage.store,
    readStore: storage.readStore,
    subscriptions: storage.subscriptions,
    registry: storage.registry,
    log,
    now: () => new Date(),
    newId: randomUUID,
    waitForReadModels: async (write: StreamWrite) => {
      const lagging: string[] = [];
      await Promise.all(projections.map((p) => p.waitForWrite(write, 3000).catch(() => void lagging.push(p.name))));
      if (lagging.length > 0) throw new NotYetVisibleError(lagging);
    },
  };
  for (const p of module.projections) projections.push(await startProjection(storage.subscriptions, storage.readStore, p));
  const running: Running | null = module.start ? await module.start(ctx) : null;
  const app = await buildServiceApp({ module, ctx, logger: log, internalSecret: config.internalSecret, projections, ready: async () => (await storage.healthy()) && storage.subscriptions.list().every((s) => s.isCaughtUp()) });
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const url = `http://${config.host}:${typeof address === 'object' && address ? address.port : config.port}`;
  log.info({ url }, `${module.name} service listening`);
  return {
    url,
    ctx,
    async close() {
      await app.close();
      await running?.stop();
      await storage.close();
    },
  };
}

/** The body of a service's main.ts: configuration errors exit 2, signals close it cleanly. */
export async function runServiceMain(createModule: (config: ServiceProcessConfig) => ServiceModule): Promise<void> {
  let config: ServiceProcessConfig;
  try {
    config = serviceProcessConfig();
  } catch (err) {
    if (err instanceof ServiceConfigError) {
      process.stderr.write(`curbmap: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel });
  const service = await startServiceProcess(createModule(config), config, logger);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, 'shutting down');
    service.close().then(() => process.exit(0), (err) => (logger.error({ err }, 'shutdown failed'), process.exit(1)));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // One line a supervisor (make up-distributed) waits for.
  process.stderr.write(`curbmap service listening at ${service.url}\n`);
}
