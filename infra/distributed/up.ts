// make up-distributed: PostgreSQL, the Kafka broker and the five processes on loopback, kept running until Ctrl-C.
// The gateway answers on $PORT (default 8080); the services on the next four ports; data under $CURBMAP_DATA_DIR.
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { resolveSecret, Supervisor } from '../../packages/service-kit/src/index.ts';
import { startPrivateBroker } from '../../packages/testing/src/kafka/privateBroker.ts';
import { ensureDatabase, startPrivateCluster } from '../../packages/testing/src/postgres/privateCluster.ts';

const log = pino({ name: 'up-distributed' });
const root = resolve(import.meta.dirname, '../..');
const dataDir = resolve(process.env['CURBMAP_DATA_DIR'] ?? join(root, 'data-distributed'));
const port = Number(process.env['PORT'] ?? '8080');
const services = ['billing', 'usage', 'export', 'invoice'] as const;

const cluster = await startPrivateCluster({ dir: join(dataDir, 'postgres'), port: port + 10 }).catch((err: unknown) => {
  // A set-up the operator can fix (a data directory the postgres user cannot reach, say): say what, not a stack.
  process.stderr.write(`make up-distributed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
const databaseUrl = await ensureDatabase(cluster.url, 'curbmap');
const broker = await startPrivateBroker({ dir: join(dataDir, 'kafka'), ports: [port + 11, port + 12] });

const env = {
  ...process.env,
  CURBMAP_DATA_DIR: dataDir,
  DATABASE_URL: databaseUrl,
  KAFKA_BROKERS: broker.brokers.join(','),
  CURBMAP_INTERNAL_SECRET: resolveSecret(process.env['CURBMAP_INTERNAL_SECRET'] ?? null, dataDir, 'internal-secret', 'cmi_').secret,
  HOST: '127.0.0.1',
};
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
  await broker.stop();
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());

const urls: string[] = [];
for (const [i, name] of services.entries()) {
  urls.push(`${name}=${await supervisor.start({ name, command: process.execPath, args: [join(root, 'services', name, 'dist', 'main.js')], env: { ...env, PORT: String(port + 1 + i) }, ready: /curbmap service listening at (\S+)/ })}`);
}
const upArgs = (JSON.parse(await import('node:fs').then((fs) => fs.readFileSync(join(root, 'package.json'), 'utf8'))) as { scripts: { up: string } }).scripts.up.split(/\s+/).slice(1);
const gateway = await supervisor.start({ name: 'gateway', command: process.execPath, args: upArgs.map((a) => (a.endsWith('.js') ? join(root, a) : a)), env: { ...env, PORT: String(port), HOST: process.env['HOST'] ?? '127.0.0.1', SERVICE_URLS: urls.join(',') }, ready: /CurbMap is running at (\S+)/ });

process.stderr.write(
  [
    '',
    `CurbMap (distributed) is running at ${gateway}  (admin token: ${join(dataDir, 'admin-token')})`,
    ...urls.map((u) => `  service ${u.replace('=', ':  ')}`),
    `  PostgreSQL:  ${env.DATABASE_URL}`,
    `  Kafka:       ${env.KAFKA_BROKERS}`,
    `  data:        ${dataDir}`,
    'A process that dies is started again; Ctrl-C stops them all.',
    '',
  ].join('\n'),
);
