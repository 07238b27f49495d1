import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_NAMES } from '@curbmap/service-kit';
import { gatewayEnvironment, serviceEnvironment, type DistributedStores } from './environment.ts';

// docker-compose.yml as Docker Compose loads it: Compose's own loader (compose-spec/compose-go, built by
// `make compose-loadcheck` from the Go module proxy), never read by eye. No Docker engine runs here.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const LOADCHECK = join(root, '.tools', 'compose', 'compose-loadcheck');
const COMPOSE_FILE = join(root, 'docker-compose.yml');
const secrets = { CURBMAP_INTERNAL_SECRET: 'x'.repeat(32), CURBMAP_ADMIN_TOKEN: 'y'.repeat(24), PATH: process.env['PATH'] ?? '' };

interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
}
const load = (file: string) => spawnSync(LOADCHECK, [file], { env: secrets, encoding: 'utf8' });

const stores: DistributedStores = {
  dataDir: '/data',
  databaseUrl: 'postgres://h/db',
  kafkaBrokers: ['h:9092'],
  mongoUrl: 'mongodb://h/db',
  s3: { url: 'http://h:8333', bucket: 'b', accessKeyId: 'k', secretAccessKey: 's', region: 'r' },
  smtpUrl: 'smtp://h:1025',
  internalSecret: 'x'.repeat(32),
};
const SERVICES = ['billing', 'usage', 'export', 'invoice'];

describe.skipIf(!existsSync(LOADCHECK))(`docker-compose.yml${existsSync(LOADCHECK) ? '' : ` (skipped: the Compose loader is not built, make compose-loadcheck builds ${LOADCHECK})`}`, () => {
  it('loads as Docker Compose loads it, and refuses a file that names a service that does not exist', () => {
    const loaded = load(COMPOSE_FILE);
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'curbmap-compose-'));
    try {
      const broken = join(dir, 'docker-compose.yml');
      writeFileSync(broken, readFileSync(COMPOSE_FILE, 'utf8').replace('billing: { condition: service_healthy }', 'biling: { condition: service_healthy }'));
      const refused = load(broken);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('biling');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives each process the environment make up-distributed gives it, every name one the platform reads', () => {
    const project = JSON.parse(execFileSync(LOADCHECK, [COMPOSE_FILE], { env: secrets, encoding: 'utf8' })) as { services: Record<string, ComposeService> };
    const names = (env: Record<string, string> | undefined) => Object.keys(env ?? {}).sort();
    for (const name of SERVICES) expect(names(project.services[name]!.environment), name).toEqual(names(serviceEnvironment(stores, { host: '0.0.0.0', port: 8080 })));
    expect(names(project.services['gateway']!.environment)).toEqual(names(gatewayEnvironment(stores, { host: '0.0.0.0', port: 8080 }, { serviceUrls: {}, adminToken: '', publicUrl: '' })));
    for (const name of names(project.services['gateway']!.environment)) expect(CONFIG_NAMES.includes(name) || name.startsWith('AWS_'), name).toBe(true);
  });

  it('starts each process after what it needs is healthy, from its own target of the one Dockerfile', () => {
    const project = JSON.parse(execFileSync(LOADCHECK, [COMPOSE_FILE], { env: secrets, encoding: 'utf8' })) as { services: Record<string, ComposeService> };
    const targets = [...readFileSync(join(root, 'Dockerfile'), 'utf8').matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
    for (const [name, service] of Object.entries(project.services)) {
      expect(service.healthcheck?.test.length, `${name} has a health check`).toBeGreaterThan(0);
      for (const [needed, { condition }] of Object.entries(service.depends_on ?? {})) expect(condition, `${name} → ${needed}`).toBe('service_healthy');
    }
    for (const name of [...SERVICES, 'gateway']) {
      expect(targets, name).toContain(project.services[name]!.build?.target);
      expect(Object.keys(project.services[name]!.depends_on ?? {})).toEqual(expect.arrayContaining(['postgres', 'kafka', 'mongo', 'seaweedfs']));
    }
    expect(Object.keys(project.services['gateway']!.depends_on ?? {})).toEqual(expect.arrayContaining(SERVICES));
    expect(project.services['kurrentdb']!.profiles).toEqual(['kurrentdb']);
  });
});
