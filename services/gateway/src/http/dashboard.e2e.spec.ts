import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_FLAGS, chromiumPath } from '@curbmap/invoice';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { WEB_DIST } from './webAppRoutes.ts';

/**
 * The dashboard in real headless Chromium against the embedded platform on a port: signed in by a portal link and by
 * an API key, every page seen (screenshots in test-artifacts/dashboard), axe-core's WCAG A/AA rules on each.
 */
// What the callbacks given to page.evaluate see: the page's globals (this file is compiled without the DOM library).
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any, window: any, location: any, localStorage: any, sessionStorage: any;
type HTMLProgressElement = { value: number };
type HTMLButtonElement = { disabled: boolean };

const artifacts = fileURLToPath(new URL('../../../../test-artifacts/dashboard', import.meta.url));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const chromium = chromiumPath();
let p: TestPlatform;
let base: string;
let browser: Browser;
let owner: { id: string; apiKey: string };

beforeAll(async () => {
  expect(existsSync(join(WEB_DIST, 'index.html')), 'the dashboard is built (make test builds it: pnpm --filter @curbmap/gateway build:web)').toBe(true);
  mkdirSync(artifacts, { recursive: true });
  p = await startTestPlatform();
  await p.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(p.app.server.address() as AddressInfo).port}`;
  owner = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
  const key = { authorization: `Bearer ${owner.apiKey}` };
  const post = (url: string, payload: object) => p.app.inject({ method: 'POST', url, headers: key, payload });
  const downtown = (await post('/v1/projects', { name: 'Downtown' })).json().id as string;
  const uptown = (await post('/v1/projects', { name: 'Uptown' })).json().id as string;
  await post('/v1/meters', { key: 'hits', name: 'Tile hits', eventType: 'hit', aggregation: 'count' });
  const now = Date.now();
  const events = [...Array.from({ length: 3 }, (_, i) => ({ id: `d${i}`, projectId: downtown })), ...Array.from({ length: 5 }, (_, i) => ({ id: `u${i}`, projectId: uptown }))].map((e, i) => ({ ...e, type: 'hit', time: new Date(now - i * 3_600_000).toISOString(), data: {} }));
  expect((await post('/v1/usage/events', events)).json().accepted).toBe(8);
  // The city's negotiated contract, set by the operator before it subscribes.
  const contract = { planId: 'city', termYears: 3, seatPrice: { kind: 'discount_percent', basisPoints: 1_000 }, escalatorBasisPoints: 300, minimumAnnualCommitment: { USD: 900_000 }, reference: 'SPR-2027-01' };
  expect((await p.app.inject({ method: 'PUT', url: `/v1/admin/organizations/${owner.id}/contract`, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, payload: contract })).statusCode).toBe(200);
  expect((await post('/v1/subscription', { planId: 'city', seats: 2 })).statusCode).toBe(201);
  const zone = { curb_zone_id: 'e1000000-0000-4000-8000-000000000001', geometry: { type: 'LineString', coordinates: [[-89.65, 39.78], [-89.64, 39.79]] }, curb_policy_ids: [], published_date: 1, last_updated_date: 1, start_date: 1 };
  expect((await p.app.inject({ method: 'POST', url: `/v1/projects/${downtown}/curbs/import`, headers: { ...key, 'content-type': 'application/json' }, payload: JSON.stringify({ version: '1.1', data: { zones: [zone] } }) })).statusCode).toBe(201);
  await p.settle();
  browser = await puppeteer.launch({ executablePath: chromium!, args: CHROMIUM_FLAGS, headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await p?.close();
});

async function portalLink(role: string): Promise<string> {
  const res = await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: { authorization: `Bearer ${owner.apiKey}` }, payload: { role } });
  expect(res.statusCode, res.body).toBe(201);
  // Built on PUBLIC_URL (the default port here); the platform under test listens on a port of its own.
  const link = new URL(res.json().url as string);
  return `${base}${link.pathname}${link.search}`;
}

/** Opens a portal link as an officer does: the page it shows, then its one button. */
async function signInWith(page: Page, link: string): Promise<void> {
  await page.goto(link, { waitUntil: 'networkidle0' });
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('form[action="/portal/enter"] button[type=submit]')]);
}

async function newPage(width = 1280): Promise<Page> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width, height: 900 });
  // axe-core is injected as a script: let it past the page's CSP (the page's own code never needs this).
  await page.setBypassCSP(true);
  return page;
}

async function visit(page: Page, hash: string, ready: string): Promise<void> {
  await page.evaluate((h) => (location.hash = h), hash);
  await page.waitForSelector(ready, { timeout: 15_000 });
}

async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => {
    const result = await (window as { axe: { run(ctx: unknown, o: object): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
    return result.violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length} nodes)`);
  });
  return violations;
}

describe.skipIf(!chromium)('the dashboard in Chromium', () => {
  it('opens from a portal link into an HttpOnly session, shows plan, usage, invoices, exports and settings, each accessible', async () => {
    const link = await portalLink('billing_admin');
    const page = await newPage();
    // Everything the page loads comes from the gateway: no outside network.
    const requested: string[] = [];
    page.on('request', (r) => void requested.push(r.url()));
    await signInWith(page, link);
    // The link's button answered a redirect: neither it nor a key is in the address, history or storage.
    expect(page.url()).toBe(`${base}/`);
    const cookies = await page.browserContext().cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['curbmap_session', true, 'Strict']]);
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([0, 0, '']);

    await page.waitForSelector('#plan-title');
    const overview = await page.$eval('main', (m) => m.textContent ?? '');
    expect(overview).toContain('City');
    expect(overview).toContain('1 open invoice');
    // The contract's terms, as the operator set them.
    for (const text of ['Contract', 'SPR-2027-01', "the plan's less 10 %", '+3 % at each renewal', '$9,000.00']) expect(overview).toContain(text);
    await page.screenshot({ path: join(artifacts, 'overview.png'), fullPage: true });
    expect(await accessibilityViolations(page)).toEqual([]);

    await visit(page, '#/usage', '#meter');
    await page.select('#meter', 'hits');
    await page.click('form.controls button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#usage-total')?.textContent === '8');
    const perProject = await page.$$eval('#usage-totals tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent)));
    expect(perProject).toEqual([['Downtown', '3'], ['Uptown', '5']]);
    expect(await page.$('.chart canvas')).not.toBeNull();
    // The usage of the last hours falls in one or two days; the axis spans the 31 days chosen (empty ones at zero).
    expect(Number(await page.$eval('.chart', (c) => c.getAttribute('data-buckets')))).toBeGreaterThanOrEqual(31);
    expect(await page.$eval('a.button[download]', (a) => a.getAttribute('href'))).toMatch(/^\/v1\/usage\/report\.csv\?meter=hits&/);
    await page.screenshot({ path: join(artifacts, 'usage.png'), fullPage: true });
    expect(await accessibilityViolations(page)).toEqual([]);

    await visit(page, '#/invoices', 'table.table');
    const pdfHref = await page.$eval('a[href$="/pdf"]', (a) => a.getAttribute('href')!);
    const pdf = await page.evaluate(async (href) => {
      const res = await fetch(href);
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { status: res.status, type: res.headers.get('content-type'), head: String.fromCharCode(...bytes.slice(0, 5)) };
    }, pdfHref);
    expect(pdf).toEqual({ status: 200, type: 'application/pdf', head: '%PDF-' });
    // The unpaid invoice's payment reminders on the default schedule: none sent yet.
    expect(await page.$eval('#reminders-title + p', (p) => p.textContent)).toContain('7 days before, on the due date, 7 days after, 14 days after (the default schedule)');
    expect(await page.$$eval('#reminders tbody tr', (rows) => rows.map((r) => r.querySelector('td:last-child')!.textContent))).toEqual(['scheduled', 'scheduled', 'scheduled', 'scheduled']);
    await page.screenshot({ path: join(artifacts, 'invoices.png'), fullPage: true });
    expect(await accessibilityViolations(page)).toEqual([]);

    await visit(page, '#/exports', '#dataset');
    await page.select('#dataset', 'zones');
    await page.select('#format', 'csv');
    await page.click('form.controls button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#export-progress-text')?.textContent?.startsWith('completed: 100 %'), { timeout: 20_000 });
    expect(await page.$eval('#export-progress', (e) => (e as HTMLProgressElement).value)).toBe(100);
    const href = await page.$eval('#export-download', (a) => a.getAttribute('href')!);
    const file = await page.evaluate(async (h) => {
      const res = await fetch(h);
      return { status: res.status, body: await res.text() };
    }, href);
    expect(file.status).toBe(200);
    expect(file.body.split('\r\n')[1]).toContain('e1000000-0000-4000-8000-000000000001');
    // The finished export is listed; a weekly schedule is added, then deleted.
    await page.waitForSelector('a[aria-label="Download the zones export"]');
    await page.select('#schedule-dataset', 'zones');
    await page.click('[data-action="add-schedule"] button[type=submit]');
    await page.waitForSelector('.schedules li');
    expect(await page.$eval('.schedules li', (li) => li.textContent)).toContain('zones as cds: “0 6 * * 1” (America/Chicago)');
    await page.screenshot({ path: join(artifacts, 'exports.png'), fullPage: true });
    await page.click('[data-action="delete-schedule"]');
    await page.waitForFunction(() => document.body.textContent.includes('No scheduled exports.'));
    expect(await accessibilityViolations(page)).toEqual([]);

    await visit(page, '#/settings', '#hooks-title');
    expect(await page.$eval('#keys-title', (h) => h.parentElement!.textContent)).toContain('Only the organization\'s owner manages API keys.');
    expect(await page.$('[data-action="add-endpoint"]')).not.toBeNull();
    // Branding saved from the page is what the API (and the next invoices) use.
    await page.$eval('#brand-colour', (e) => ((e as unknown as { value: string }).value = '#aa3300'));
    await page.type('#brand-footer', 'Thank you, Springfield');
    await page.click('[data-action="set-branding"] button[type=submit]');
    await page.waitForFunction(() => document.querySelector('[data-action="set-branding"] [role=status]')?.textContent?.startsWith('Saved'));
    expect((await p.app.inject({ url: '/v1/invoice-template', headers: { authorization: `Bearer ${owner.apiKey}` } })).json().branding).toMatchObject({ primaryColor: '#aa3300', footer: 'Thank you, Springfield' });
    await page.screenshot({ path: join(artifacts, 'settings.png'), fullPage: true });
    expect(await accessibilityViolations(page)).toEqual([]);

    // A phone-width screen: nothing wider than the screen.
    await page.setViewport({ width: 390, height: 844 });
    for (const [hash, ready, shot] of [['#/overview', '#plan-title', 'overview-phone'], ['#/usage', '#meter', 'usage-phone'], ['#/invoices', 'table.table', 'invoices-phone']] as const) {
      await visit(page, hash, ready);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), hash).toBeLessThanOrEqual(390);
      await page.screenshot({ path: join(artifacts, `${shot}.png`), fullPage: true });
    }
    expect(requested.filter((u) => !u.startsWith(`${base}/`) && !u.startsWith('data:'))).toEqual([]);
    await page.browserContext().close();
  }, 90_000);

  it('shows a read_only session no settings actions, and the API refuses its changes', async () => {
    const page = await newPage();
    await signInWith(page, await portalLink('read_only'));
    await visit(page, '#/settings', '#hooks-title');
    expect(await page.$$('[data-action]')).toHaveLength(0);
    await visit(page, '#/exports', '#dataset');
    expect(await page.$eval('form.controls button[type=submit]', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    // Even sent by hand with the portal header, a change needs the role.
    const status = await page.evaluate(async () => (await fetch('/v1/webhook-endpoints', { method: 'POST', headers: { 'content-type': 'application/json', 'x-curbmap-portal': '1' }, body: JSON.stringify({ url: 'https://93.184.216.34/x', events: ['invoice.issued'] }) })).status);
    expect(status).toBe(403);
    await page.screenshot({ path: join(artifacts, 'settings-read-only.png'), fullPage: true });
    await page.browserContext().close();
  }, 60_000);

  it('signs in with an API key typed once, keeping it nowhere in the browser; an expired link says so', async () => {
    const page = await newPage();
    await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#api-key');
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.type('#api-key', owner.apiKey);
    await page.click('form button[type=submit]');
    await page.waitForSelector('#plan-title');
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie, location.href.includes('cmk_')])).toEqual([0, 0, '', false]);
    await visit(page, '#/settings', '#keys-title');
    expect(await page.$('[data-action="issue-key"]')).not.toBeNull(); // the owner manages keys
    await page.screenshot({ path: join(artifacts, 'settings-owner.png'), fullPage: true });
    await page.browserContext().close();

    const expired = await newPage();
    await expired.goto(`${base}/portal/enter?token=forged.value`, { waitUntil: 'networkidle0' });
    await expired.waitForSelector('#api-key');
    expect(await expired.$eval('main', (m) => m.textContent)).toContain('That sign-in link has expired or was revoked');
    await expired.browserContext().close();
  }, 60_000);
});
