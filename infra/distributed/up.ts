// make up-distributed: PostgreSQL, the Kafka broker and the five processes on loopback, kept running until Ctrl-C.
// The gateway answers on $PORT (default 8080); the services on the next four ports; data under $CURBMAP_DATA_DIR.
// BILLING_PROCESSES, USAGE_PROCESSES, EXPORT_PROCESSES, INVOICE_PROCESSES (1 to 9, default 1) run a service in
// several processes: the second and later of service i listen on $PORT + 20 + 10·i + k.
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { resolveAdminToken, resolveSecret, Supervisor } from '../../packages/service-kit/src/index.ts';
import { SmtpSink } from '../../services/invoice/src/adapters/smtpSink.ts';
import { ensureDatabase, gatewayEnvironment, serviceEnvironment, startPrivateBroker, startPrivateCluster, startPrivateMongo, startPrivateS3, type DistributedStores } from '../../packages/infra/src/index.ts';

const log = pino({ name: 'up-distributed' });
const root = resolve(import.meta.dirname, '../..');
const dataDir = resolve(process.env['CURBMAP_DATA_DIR'] ?? join(root, 'data-distributed'));
const port = Number(process.env['PORT'] ?? '8080');
const services = ['billing', 'usage', 'export', 'invoice'] as const;
const counts = Object.fromEntries(
  services.map((name) => {
    const text = process.env[`${name.toUpperCase()}_PROCESSES`] ?? '1';
    const count = Number(text);
    if (!Number.isInteger(count) || count < 1 || count > 9) {
      process.stderr.write(`make up-distributed: ${name.toUpperCase()}_PROCESSES must be a whole number from 1 to 9, not "${text}"\n`);
      process.exit(1);
    }
    return [name, count];
  }),
) as Record<(typeof services)[number], number>;

// The stores docker-compose.yml runs as containers, here as processes on loopback with their data kept: PostgreSQL,
// the Kafka broker, FerretDB for the read models (MongoDB's protocol), SeaweedFS for artifacts (S3), a mail sink.
const starting = [
  startPrivateCluster({ dir: join(dataDir, 'postgres'), port: port + 10 }),
  startPrivateBroker({ dir: join(dataDir, 'kafka'), ports: [port + 11, port + 12] }),
  startPrivateMongo({ dir: join(dataDir, 'ferretdb'), port: port + 13 }),
  startPrivateS3({ dir: join(dataDir, 'seaweedfs'), port: port + 14 }),
] as const;
const [cluster, broker, mongo, s3] = await Promise.all(starting).catch(async (err: unknown) => {
  // A set-up the operator can fix (a data directory the postgres user cannot reach, a server not built): say what,
  // and stop the servers that did start.
  process.stderr.write(`make up-distributed: ${err instanceof Error ? err.message : String(err)}\n`);
  await Promise.allSettled(starting.map((s) => s.then((server) => server.stop())));
  process.exit(1);
});
const mailDir = join(dataDir, 'mail');
const sink = new SmtpSink(mailDir);
const stores: DistributedStores = {
  dataDir,
  databaseUrl: await ensureDatabase(cluster.url, 'curbmap'),
  kafkaBrokers: broker.brokers,
  mongoUrl: `${mongo.url.replace(/\/$/, '')}/curbmap`,
  // SeaweedFS without identities accepts any key: these only satisfy the SDK.
  s3: { url: s3.url, bucket: 'curbmap-artifacts', accessKeyId: 'curbmap', secretAccessKey: 'curbmap-local-secret', region: 'us-east-1' },
  smtpUrl: await sink.listen(port + 15),
  internalSecret: resolveSecret(process.env['CURBMAP_INTERNAL_SECRET'] ?? null, dataDir, 'internal-secret', 'cmi_').secret,
};
const env = { ...process.env };
const supervisor = new Supervisor({
  started: (name, url, restarts) => log.info({ service: name, url, restarts }, restarts ? 'restarted' : 'started'),
  died: (name, code, signal, restartInMs) => log.warn({ service: name, code, signal, restartInMs }, 'process died; starting it again'),
  // Each process logs pino JSON of its own: passed through as it is.
  output: (_name, line) => void process.stdout.write(`${line}\n`),
});

let stopping = false;
const stop = async () => {
  if (stopping) process.exit(1);
  stopping = true;
  log.info('stopping');
  await supervisor.stop();
  await sink.close();
  await s3.stop();
  await mongo.stop();
  await broker.stop();
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

const urls: Record<string, string[]> = {};
for (const [i, name] of services.entries()) {
  urls[name] = [];
  for (let k = 0; k < counts[name]; k++) {
    const listen = { host: '127.0.0.1', port: k === 0 ? port + 1 + i : port + 20 + 10 * i + k };
    urls[name].push(await supervisor.start({ name: k === 0 ? name : `${name}#${k + 1}`, command: process.execPath, args: [join(root, 'services', name, 'dist', 'main.js')], env: { ...env, ...serviceEnvironment(stores, listen) }, ready: /curbmap service listening at (\S+)/ }));
  }
}
const upArgs = (JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(root, 'package.json'), 'utf8'))) as { scripts: { up: string } }).scripts.up.split(/\s+/).slice(1);
const host = process.env['HOST'] ?? '127.0.0.1';
const gatewayEnv = gatewayEnvironment(stores, { host, port }, { serviceUrls: urls, adminToken: resolveAdminToken(process.env['CURBMAP_ADMIN_TOKEN'] ?? null, dataDir).token, publicUrl: process.env['PUBLIC_URL'] ?? `http://localhost:${port}` });
const gateway = await supervisor.start({ name: 'gateway', command: process.execPath, args: upArgs.map((a) => (a.endsWith('.js') ? join(root, a) : a)), env: { ...env, ...gatewayEnv }, ready: /CurbMap is running at (\S+)/ });

process.stderr.write(
  [
    '',
    `CurbMap (distributed) is running at ${gateway}  (admin token: ${join(dataDir, 'admin-token')})`,
    ...Object.entries(urls).map(([name, list]) => `  service ${name}:  ${list.join('  ')}`),
    `  PostgreSQL:  ${stores.databaseUrl}`,
    `  Kafka:       ${stores.kafkaBrokers.join(',')}`,
    `  FerretDB:    ${stores.mongoUrl}   (read models)`,
    `  SeaweedFS:   ${stores.s3.url}   (exports and PDFs, bucket ${stores.s3.bucket})`,
    `  mail:        ${stores.smtpUrl}   (kept in ${mailDir})`,
    `  data:        ${dataDir}`,
    'A process that dies is started again; Ctrl-C stops them all.',
    '',
  ].join('\n'),
);
