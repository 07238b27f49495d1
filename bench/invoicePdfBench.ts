import { readdirSync, readFileSync } from 'node:fs';
import puppeteer from 'puppeteer-core';
import { ChromiumPdfRenderer, chromiumPath, DEFAULT_TEMPLATE, renderInvoice, sampleDocument } from '@curbmap/invoice';
import type { Figure } from './report.ts';

/** The default template rendering a document shaped as the invoice service renders one. */
function html(i: number): string {
  const doc = sampleDocument();
  return renderInvoice(DEFAULT_TEMPLATE, { ...doc, number: `CM-2027-${String(i).padStart(6, '0')}`, lines: Array.from({ length: 5 }, (_, k) => ({ description: `City plan, seat ${k + 1}`, quantity: 1, unitAmount: '$3,600.00', amount: '$3,600.00' })) });
}

/** Resident memory of a process and its descendants (Chromium's renderers), in MB. */
function treeRss(pid: number): number {
  const children = new Map<number, number[]>();
  let rss = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const walk = (p: number) => {
    try {
      rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      // gone meanwhile
    }
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return rss;
}

async function inParallel(total: number, concurrency: number, render: (i: number) => Promise<Buffer>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < total; i = next++) {
      const pdf = await render(i);
      if (pdf.subarray(0, 5).toString() !== '%PDF-') throw new Error('bench: not a PDF');
    }
  }));
  return total / ((performance.now() - started) / 1000);
}

/** Invoice PDFs with the page pool against a fresh page per PDF (same browser, same HTML, same concurrency). */
export async function invoicePdfBench(scale: number): Promise<Figure[]> {
  const path = chromiumPath();
  if (!path) return [{ name: 'invoice PDFs with the page pool', value: 0, unit: 'PDFs/s', detail: 'skipped: no Chromium on this machine' }];
  const total = Math.max(50, Math.round(1000 * scale));
  const concurrency = 4;
  // Baseline: a fresh page for every PDF.
  const browser = await puppeteer.launch({ executablePath: path, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'], headless: true });
  const fresh = await inParallel(Math.round(total / 4), concurrency, async (i) => {
    const page = await browser.newPage();
    try {
      await page.setContent(html(i), { waitUntil: 'load' });
      return Buffer.from(await page.pdf({ format: 'A4', printBackground: true }));
    } finally {
      await page.close();
    }
  });
  await browser.close();

  const renderer = new ChromiumPdfRenderer(path, { poolSize: concurrency });
  try {
    await inParallel(20, concurrency, (i) => renderer.render(html(i))); // warm-up: browser and pages
    const pid = (await renderer.pid())!;
    const rssStart = treeRss(pid) + process.memoryUsage().rss / 2 ** 20;
    const pooled = await inParallel(total, concurrency, (i) => renderer.render(html(i)));
    const rssEnd = treeRss(pid) + process.memoryUsage().rss / 2 ** 20;
    return [
      { name: 'invoice PDFs with the page pool', value: pooled, unit: 'PDFs/s', baseline: fresh, target: { min: 30 }, detail: `${total} invoices in a row, ${concurrency} at a time; baseline: a fresh page per PDF in the same browser` },
      { name: `invoice PDF memory after ${total} in a row`, value: rssEnd - rssStart, unit: 'MB', detail: `growth of Chromium's processes and this one between the first and the last (${rssStart.toFixed(0)} → ${rssEnd.toFixed(0)} MB)` },
    ];
  } finally {
    await renderer.close();
  }
}
