import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { SqliteDatabase, SqliteEventStore } from '@curbmap/eventsourcing';
import { CHROMIUM_FLAGS, chromiumPath } from '@curbmap/invoice';
import { BENCH_ADMIN as ADMIN, call, startPlatformProcess } from './platformProcess.ts';
import type { Figure } from './report.ts';

// The page's globals, as the callbacks given to page.evaluate see them (this file is compiled without the DOM library).
declare const document: any, location: any, navigator: any, requestAnimationFrame: (cb: (t: number) => void) => number; // eslint-disable-line @typescript-eslint/no-explicit-any

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The dashboard's usage page in Chromium: a year of daily usage for 20 projects, from pressing Show to the chart
 * drawn and the totals shown (the summary request, the chart, the table), platform in its own process.
 */
export async function dashboardBench(_scale: number): Promise<Figure[]> {
  const chromium = chromiumPath();
  const name = 'dashboard usage page: a year by day for 20 projects';
  if (!chromium) return [{ name, value: Number.NaN, unit: 'ms', detail: 'skipped: no Chromium here (make bench installs it)' }];
  const { port, dataDir, stop } = await startPlatformProcess('dashboard', { RATE_LIMIT_PER_MINUTE: '1000000000' });
  const browser = await puppeteer.launch({ executablePath: chromium, args: CHROMIUM_FLAGS, headless: true });
  try {
    const org = JSON.parse((await call(port, 'POST', '/v1/organizations', ADMIN, JSON.stringify({ name: 'Bench City', billingEmail: 'ap@bench.example', timeZone: 'UTC' }))).body) as { id: string; apiKey: string };
    const projects: string[] = [];
    for (let i = 0; i < 20; i++) projects.push((JSON.parse((await call(port, 'POST', '/v1/projects', org.apiKey, JSON.stringify({ name: `District ${String(i + 1).padStart(2, '0')}` }))).body) as { id: string }).id);
    await call(port, 'POST', '/v1/meters', org.apiKey, JSON.stringify({ key: 'hits', name: 'Tile hits', eventType: 'hit', aggregation: 'count' }));
    // A year of days, ten hits per project and day, straight into the log (ingestion refuses times older than 35 days).
    const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
    const store = new SqliteEventStore(database);
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    for (let d = 0; d < 365; d++) {
      const items = projects.flatMap((projectId, p) => Array.from({ length: 10 }, (_, k) => ({ id: `y${d}-${p}-${k}`, type: 'hit', projectId, time: new Date(today - d * 86_400_000 + k * 3_600_000).toISOString(), data: {} })));
      await store.append(`usage-${org.id}`, [{ id: randomUUID(), type: 'usage.events.recorded', data: { items, timeZone: 'UTC' }, occurredAt: new Date().toISOString(), organizationId: org.id }], { expectedVersion: 'any' });
    }
    database.close();
    const expected = 365 * 20 * 10;
    const from = new Date(today - 364 * 86_400_000).toISOString().slice(0, 10);
    const to = new Date(today + 86_400_000).toISOString().slice(0, 10);
    const window = `meter=hits&from=${from}T00:00:00Z&to=${to}T00:00:00Z&window=day&groupBy=project`;
    for (;;) {
      if ((JSON.parse((await call(port, 'GET', `/v1/usage/summary?${window}`, org.apiKey)).body) as { total: number }).total >= expected) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const link = (JSON.parse((await call(port, 'POST', '/v1/portal-sessions', org.apiKey, JSON.stringify({ role: 'read_only' }))).body) as { url: string }).url.replace(/^https?:\/\/[^/]+/, `http://127.0.0.1:${port}`);
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(link, { waitUntil: 'networkidle0' });
    // The link's page asks for a click (a mail scanner fetching the link does not sign in); the form posts it.
    await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('form[action="/portal/enter"] button[type=submit]')]);
    await page.evaluate(() => (location.hash = '#/usage'));
    await page.waitForSelector('#meter');
    await page.select('#meter', 'hits');
    await page.$eval('#from', (e, v) => ((e as unknown as { value: string }).value = v), from);
    await page.$eval('#to', (e, v) => ((e as unknown as { value: string }).value = v), to);
    const runs: number[] = [];
    const charts: number[] = [];
    for (let i = 0; i < 7; i++) {
      await page.$eval('#usage-total', (e) => ((e as unknown as { textContent: string }).textContent = '')).catch(() => undefined);
      const shown = await page.evaluate(async (total) => {
        const started = performance.now();
        (document.querySelector('form.controls button[type=submit]') as unknown as { click(): void }).click();
        const formatted = new Intl.NumberFormat(navigator.language || 'en-US').format(total);
        while (document.querySelector('#usage-total')?.textContent !== formatted) await new Promise<number>((r) => requestAnimationFrame(r));
        await new Promise<number>((r) => requestAnimationFrame(r)); // painted
        return { ms: performance.now() - started, chart: Number((document.querySelector('.chart') as unknown as { dataset: Record<string, string> }).dataset['renderMs']) };
      }, expected);
      if (i > 1) {
        runs.push(shown.ms);
        charts.push(shown.chart);
      }
    }
    const series = await page.$$eval('.chart .u-series', (s) => s.length);
    return [{ name, value: median(runs), unit: 'ms', target: { max: 1000 }, detail: `from Show to chart and totals, median of ${runs.length} (max ${Math.max(...runs).toFixed(0)} ms); ${series - 1} series × 365 days, ${expected.toLocaleString('en')} events; the chart alone ${median(charts).toFixed(0)} ms; headless Chromium, platform in its own process` }];
  } finally {
    await browser.close();
    await stop();
  }
}
