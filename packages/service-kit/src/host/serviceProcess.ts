import { randomUUID } from 'node:crypto';
import { clockOf } from './clock.ts';
import { pino, type Logger } from 'pino';
import { startProjection, type StreamWrite, type Subscription } from '@curbmap/eventsourcing';
import { buildServiceApp } from '../http/serviceApp.ts';
import { NotYetVisibleError } from '../problem.ts';
import type { Running, ServiceContext, ServiceModule } from '../serviceModule.ts';
import { ConfigError, configOrExit, loadConfig, type Config } from './config.ts';
import { openStorage } from './storage.ts';

/** What a service process reads from its environment: the installation's configuration. */
export type ServiceProcessConfig = Config & { internalSecret: string };

/**
 * The environment of `node services/<name>/dist/main.js` (the same variables as the gateway's). With
 * DATABASE_URL and KAFKA_BROKERS it runs on PostgreSQL and Kafka; without them, on the embedded adapters: the
 * data directory's SQLite file, shared with the gateway's process on this machine, followed by polling.
 */
export function serviceProcessConfig(env: Record<string, string | undefined> = process.env): ServiceProcessConfig {
  // A service answers the gateway only: on loopback unless HOST says otherwise.
  const config = loadConfig({ HOST: '127.0.0.1', ...env });
  if (!config.internalSecret) throw new ConfigError('invalid configuration: CURBMAP_INTERNAL_SECRET required: the service believes only what the gateway signs with it (see docs/architecture/deployment.md)');
  return config as ServiceProcessConfig;
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
  const storage = await openStorage(config.dataDir, [module], log, { databaseUrl: config.databaseUrl, mongoUrl: config.mongoUrl, kurrentdbUrl: config.kurrentdbUrl, kafkaBrokers: config.kafkaBrokers, kafkaPartitions: config.kafkaPartitions, clientId: `curbmap-${module.name}` });
  const projections: Subscription[] = [];
  const ctx: ServiceContext = {
    store: storage.store,
    readStore: storage.readStore,
    subscriptions: storage.subscriptions,
    registry: storage.registry,
    log,
    now: clockOf(config.clockFile),
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
export async function runServiceMain(createModule: (config: ServiceProcessConfig) => ServiceModule | Promise<ServiceModule>): Promise<void> {
  const config = configOrExit(() => serviceProcessConfig());
  const logger = pino({ level: config.logLevel });
  const service = await startServiceProcess(await createModule(config), config, logger);
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
