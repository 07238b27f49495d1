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
 * What a document may load while it prints: inline `data:` images, styles and fonts, nothing else. A template is
 * an organization's HTML, so this is the second of two locks (the first: every request is refused, see isolate).
 */
export const DOCUMENT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; font-src data:; frame-src 'none'; child-src 'none'; object-src 'none'; media-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'";

/** The policy as the document's first element (after a doctype, which must stay first to keep standards mode). */
export function withPolicy(html: string): string {
  const meta = `<meta http-equiv="Content-Security-Policy" content="${DOCUMENT_CSP}">`;
  const doctype = /^\s*<!doctype[^>]*>/i.exec(html);
  return doctype ? `${doctype[0]}${meta}${html.slice(doctype[0].length)}` : `${meta}${html}`;
}

/**
 * The renderer makes no network request at all: a template (an organization's HTML) must not make the platform
 * reach an address (cloud metadata, the platform itself, a city's intranet) and print what it answers into a
 * PDF that is kept and mailed. Every request is refused except inline `data:` resources; a navigation (a
 * `<meta http-equiv=refresh>`, an iframe) is answered 204 No Content whatever its URL, so nothing replaces the document.
 */
async function isolate(page: Page): Promise<void> {
  await page.setRequestInterception(true);
  page.on('request', (request) => {
    if (request.isInterceptResolutionHandled()) return;
    // A navigation answered 204 leaves the document where it is (an aborted one would print an error page).
    if (request.isNavigationRequest()) void request.respond({ status: 204, body: '' }).catch(() => undefined);
    else void (request.url().startsWith('data:') ? request.continue() : request.abort('blockedbyclient')).catch(() => undefined);
  });
}

/**
 * Below the request interception: Chromium opens connections of its own to hosts a document names (preconnects
 * of its preload scanner and predictor, before any request exists to refuse). Every connection goes through a
 * proxy on a loopback port nothing serves (port 1, refused at once), loopback included, and no name is resolved.
 */
const OFFLINE_FLAGS = ['--proxy-server=http://127.0.0.1:1', '--proxy-bypass-list=<-loopback>', '--host-resolver-rules=MAP * ~NOTFOUND'];

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
      const launching = puppeteer.launch({ executablePath: this.executablePath, args: [...CHROMIUM_FLAGS, ...OFFLINE_FLAGS], headless: true, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
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
        await isolate(page);
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
      await page.setContent(withPolicy(html), { waitUntil: 'load', timeout: this.options.timeoutMs });
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
