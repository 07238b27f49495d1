import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { Logger } from 'pino';

/** Renders HTML to PDF. */
export interface PdfRenderer {
  render(html: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Headless Chromium as it runs here (no sandbox as root, no GPU, no background traffic). */
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** PUPPETEER_EXECUTABLE_PATH, else Debian's Chromium or Chrome where installed. */
export function chromiumPath(): string | null {
  const candidates = [process.env['PUPPETEER_EXECUTABLE_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];
  return candidates.find((p): p is string => Boolean(p) && existsSync(p!)) ?? null;
}

/**
 * One Chromium, launched on first use, and a pool of pages reused across renders (JavaScript off: a template is
 * the organization's HTML). Each render has a timeout; if the browser dies, the next render launches a new one
 * and the failed render is retried once there.
 */
export class ChromiumPdfRenderer implements PdfRenderer {
  private browser: Promise<Browser> | null = null;
  private readonly idle: Page[] = [];
  private readonly waiting: ((page: Page) => void)[] = [];
  private open = 0;
  private readonly executablePath: string;
  private readonly options: { poolSize: number; timeoutMs: number; rendersPerPage: number; log?: Logger };
  private readonly renders = new WeakMap<Page, number>();

  constructor(executablePath: string, options: { poolSize?: number; timeoutMs?: number; rendersPerPage?: number; log?: Logger } = {}) {
    this.executablePath = executablePath;
    this.options = { poolSize: options.poolSize ?? 4, timeoutMs: options.timeoutMs ?? 15_000, rendersPerPage: options.rendersPerPage ?? 50, ...(options.log ? { log: options.log } : {}) };
  }

  private launch(): Promise<Browser> {
    if (!this.browser) {
      // Signals are the platform's: puppeteer's own handlers would exit(130) before a graceful shutdown closes us.
      const launching = puppeteer.launch({ executablePath: this.executablePath, args: CHROMIUM_FLAGS, headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
      this.browser = launching;
      launching.then(
        (b) => b.on('disconnected', () => {
          // A dead browser takes its pages with it: the next render starts afresh.
          if (this.browser === launching) this.reset();
        }),
        () => this.reset(),
      );
    }
    return this.browser;
  }

  private reset(): void {
    this.browser = null;
    this.idle.length = 0;
    this.open = 0;
  }

  private async page(): Promise<Page> {
    const ready = this.idle.pop();
    if (ready && !ready.isClosed()) return ready;
    if (this.open < this.options.poolSize) {
      this.open += 1;
      try {
        const page = await (await this.launch()).newPage();
        await page.setJavaScriptEnabled(false);
        return page;
      } catch (err) {
        this.open -= 1;
        throw err;
      }
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(page: Page): void {
    // A page that has printed many documents is replaced: what a renderer keeps between documents does not pile up.
    const count = (this.renders.get(page) ?? 0) + 1;
    this.renders.set(page, count);
    if (count >= this.options.rendersPerPage) {
      this.open = Math.max(0, this.open - 1);
      void page.close().catch(() => undefined);
      const waiter = this.waiting.shift();
      if (waiter) void this.page().then(waiter, () => this.waiting.unshift(waiter));
      return;
    }
    const next = this.waiting.shift();
    if (next) next(page);
    else this.idle.push(page);
  }

  async render(html: string): Promise<Buffer> {
    try {
      return await this.renderOnce(html);
    } catch (err) {
      this.options.log?.warn({ err }, 'PDF render failed; retrying on a fresh browser');
      await this.close();
      return this.renderOnce(html);
    }
  }

  private async renderOnce(html: string): Promise<Buffer> {
    const page = await this.page();
    let healthy = false;
    try {
      await page.setContent(html, { waitUntil: 'load', timeout: this.options.timeoutMs });
      const pdf = await page.pdf({ format: 'A4', printBackground: true, margin: { top: '12mm', bottom: '12mm', left: '12mm', right: '12mm' }, timeout: this.options.timeoutMs });
      healthy = true;
      return Buffer.from(pdf);
    } finally {
      if (healthy) this.release(page);
      else {
        this.open = Math.max(0, this.open - 1);
        await page.close().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    const browser = this.browser;
    this.reset();
    if (browser) await (await browser.catch(() => null))?.close().catch(() => undefined);
  }

  /** The browser's process (tests: kill it mid-work). */
  async pid(): Promise<number | null> {
    return (await this.launch()).process()?.pid ?? null;
  }
}
