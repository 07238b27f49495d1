import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { StripeTestServer } from '@curbmap/billing/testing';

const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-main-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const main = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Starts the platform as `make up` does (from sources), on a free port; resolves with its banner. */
function start(env: Record<string, string> = {}): Promise<{ child: ChildProcess; banner: string; base: string }> {
  const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', main], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', CURBMAP_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /CurbMap is running at (\S+)[\s\S]*\n\n/.exec(err);
      if (m) resolve({ child, banner: err, base: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });

describe('the platform as `make up` runs it', () => {
  it('seeds the demo, serves it, stops cleanly on Ctrl-C and keeps everything across a restart', async () => {
    const first = await start({ CURBMAP_SEED_DEMO: 'true' }); // as the Makefile sets it
    expect(first.banner).toMatch(/admin token: +cma_/);
    expect(first.banner).toMatch(/demo subscription: City, 5 seats, active/);
    // Without SMTP_URL, mail goes to a local sink whose files the banner names: the demo's first invoice arrives there.
    expect(first.banner).toMatch(/mail: +kept by the local SMTP sink smtp:\/\/127\.0\.0\.1:\d+: read it in .*mail\/\*\.eml/);
    await expect.poll(() => (existsSync(join(dataDir, 'mail')) ? readdirSync(join(dataDir, 'mail')).some((f) => readFileSync(join(dataDir, 'mail', f), 'utf8').includes('Subject: Invoice CM-')) : false), { timeout: 30_000 }).toBe(true);
    const keyFile = join(dataDir, 'demo-api-key');
    const key = readFileSync(keyFile, 'utf8').trim();
    // The key stays in its file (owner-only), never in the banner or the logs; so does the database.
    expect(first.banner).not.toContain(key);
    expect(first.banner).toContain(keyFile);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'curbmap.db')).mode & 0o777).toBe(0o600);
    const sub = await fetch(`${first.base}/v1/subscription`, { headers: { authorization: `Bearer ${key}` } });
    expect(await sub.json()).toMatchObject({ status: 'active', seats: 5, collectionMethod: 'send_invoice' });
    expect(await stop(first.child)).toBe(0);

    const second = await start();
    expect(second.banner).not.toMatch(/admin token: /); // shown once
    const get = async (path: string) => (await (await fetch(`${second.base}${path}`, { headers: { authorization: `Bearer ${key}` } })).json()) as Record<string, unknown>;
    expect((await get('/v1/organization'))['name']).toBe('Demo City Transportation');
    let invoices: unknown[] = [];
    for (let i = 0; i < 50 && invoices.length === 0; i++) {
      invoices = (await get('/v1/invoices'))['data'] as unknown[];
      if (invoices.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(invoices).toHaveLength(1); // the seed ran once
    expect(await stop(second.child)).toBe(0);
  });

  it('refuses to start on bad configuration, with the reason', async () => {
    const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', main], { env: { ...process.env, PORT: 'eighty', CURBMAP_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain('invalid configuration: PORT must be integer');
  });

  it('does not seed a demo organization unless asked', async () => {
    const emptyDir = mkdtempSync(join(tmpdir(), 'curbmap-main-'));
    try {
      const run = await start({ CURBMAP_DATA_DIR: emptyDir });
      expect(run.banner).not.toMatch(/demo/);
      expect(await stop(run.child)).toBe(0);
    } finally {
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });

  it('seeds the demo with Stripe set (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET): the demo city pays by invoice through Stripe', async () => {
    const stripe = new StripeTestServer();
    const apiBase = await stripe.start();
    const stripeDir = mkdtempSync(join(tmpdir(), 'curbmap-main-'));
    try {
      const run = await start({ CURBMAP_DATA_DIR: stripeDir, CURBMAP_SEED_DEMO: 'true', STRIPE_SECRET_KEY: 'sk_test_curbmap_demo', STRIPE_WEBHOOK_SECRET: 'whsec_curbmap_demo', STRIPE_API_BASE: apiBase });
      expect(run.banner).toMatch(/demo subscription: City, 5 seats/);
      const key = readFileSync(join(stripeDir, 'demo-api-key'), 'utf8').trim();
      const sub = await (await fetch(`${run.base}/v1/subscription`, { headers: { authorization: `Bearer ${key}` } })).json();
      expect(sub).toMatchObject({ provider: 'stripe', collectionMethod: 'send_invoice', seats: 5 });
      expect(stripe.requestsTo('POST', '/v1/subscriptions')[0]?.form).toMatchObject({ collection_method: 'send_invoice' });
      expect(await stop(run.child)).toBe(0);
    } finally {
      await stripe.close();
      rmSync(stripeDir, { recursive: true, force: true });
    }
  });
});
