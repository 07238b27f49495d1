// make test's API check: the embedded platform from sources on a free port (a fresh data directory, the demo
// organization seeded), then Schemathesis (installed into .tools/venv by the Makefile) against its served
// OpenAPI document with the document's two security schemes. Exits with Schemathesis's code.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withoutPytestRules } from './pytestRules.ts';

const root = resolve(import.meta.dirname, '../..');
const schemathesis = join(root, '.tools/venv/bin/schemathesis');
const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-schemathesis-'));
const admin = `st-admin-${Date.now()}-0123456789abcdef`;

// Only what a process needs to run (PATH, HOME, Chromium's path…): a developer's DATABASE_URL, STRIPE_SECRET_KEY,
// SMTP_URL or SERVICE_URLS must never point the fuzzer at a real store, provider or mailbox.
const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => ['PATH', 'HOME', 'LANG', 'TMPDIR', 'PUPPETEER_EXECUTABLE_PATH', 'NODE_OPTIONS'].includes(name)));
const platform = spawn(process.execPath, [...process.execArgv, '--conditions=source', '--no-warnings', join(root, 'services/gateway/src/main.ts')], {
  env: { ...inherited, PORT: '0', HOST: '127.0.0.1', CURBMAP_DATA_DIR: dataDir, CURBMAP_SEED_DEMO: 'true', CURBMAP_ADMIN_TOKEN: admin, LOG_LEVEL: 'error', RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE: '1000000' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
const stopPlatform = () => new Promise<void>((done) => {
  if (platform.exitCode !== null) return done();
  platform.once('exit', () => done());
  platform.kill('SIGINT');
  setTimeout(() => platform.kill('SIGKILL'), 10_000).unref();
});

let code = 1;
try {
  const base = await new Promise<string>((ok, fail) => {
    let err = '';
    platform.stderr!.on('data', (d) => {
      err += d;
      const m = /CurbMap is running at (\S+)/.exec(err);
      if (m) ok(m[1]!);
    });
    platform.once('exit', (c) => fail(new Error(`the platform exited (${c}) before it ran: ${err}`)));
  });
  const key = readFileSync(join(dataDir, 'demo-api-key'), 'utf8').trim();
  const run = spawnSync(schemathesis, ['--config-file', join(import.meta.dirname, 'schemathesis.toml'), 'run', `${base}/docs/json`, '--url', base], {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
    env: { ...inherited, CURBMAP_TEST_API_KEY: key, CURBMAP_TEST_ADMIN_TOKEN: admin, SCHEMATHESIS_HOOKS: 'hooks', PYTHONPATH: import.meta.dirname, PYTHONDONTWRITEBYTECODE: '1', NO_COLOR: '1' },
  });
  process.stdout.write(withoutPytestRules(run.stdout ?? ''));
  code = run.status ?? 1;
} catch (err) {
  process.stderr.write(`schemathesis: ${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  await stopPlatform();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(code);

