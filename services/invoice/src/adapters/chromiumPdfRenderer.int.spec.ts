import { afterEach, describe, expect, it } from 'vitest';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChromiumPdfRenderer, chromiumPath, withPolicy } from './chromiumPdfRenderer.ts';

const path = chromiumPath();
let renderer: ChromiumPdfRenderer | null = null;
afterEach(async () => {
  await renderer?.close();
  renderer = null;
});

describe.skipIf(!path)('Chromium PDF renderer', () => {
  it('renders concurrently from a pool of pages, runs no script, and recovers when its browser is killed', async () => {
    renderer = new ChromiumPdfRenderer(path!, { poolSize: 2 });
    const pdfs = await Promise.all([1, 2, 3, 4].map((i) => renderer!.render(`<p>page ${i}</p><script>document.body.innerHTML = 'ran'</script>`)));
    for (const pdf of pdfs) expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    // The page's script did not run: its text is the HTML's own.
    const page = await (await getDocument({ data: new Uint8Array(pdfs[0]!) }).promise).getPage(1);
    const text = (await page.getTextContent()).items.map((item) => ('str' in item ? item.str : '')).join('');
    expect(text).toBe('page 1');
    // Killed as a crash would kill it: the next render launches a new browser.
    const pid = await renderer.pid();
    process.kill(pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const after = await renderer.render('<p>after the crash</p>');
    expect(after.subarray(0, 5).toString()).toBe('%PDF-');
    expect(await renderer.pid()).not.toBe(pid);
  });
});

describe.skipIf(!path)('Chromium PDF renderer makes no network request', () => {
  it('whatever a template names: iframes, images, CSS url() and @import, fonts, refreshes, links, objects, preconnects', async () => {
    // A listener on loopback stands for cloud metadata or the platform itself: it must see no connection at all.
    const connections: string[] = [];
    const server = createServer((req, res) => {
      connections.push(`${req.method} ${req.url}`);
      res.setHeader('content-type', req.url?.includes('.css') ? 'text/css' : 'text/html');
      res.end(req.url?.includes('.css') ? 'body { background: red }' : '<p>SECRET-FROM-INSIDE</p>');
    });
    server.on('connection', () => connections.push('tcp'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      renderer = new ChromiumPdfRenderer(path!, { poolSize: 1, timeoutMs: 5_000 });
      const vectors = {
        iframe: `<iframe src="${base}/readyz"></iframe>`,
        img: `<img src="${base}/logo.png">`,
        srcset: `<img srcset="${base}/logo-2x.png 2x" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">`,
        cssUrl: `<div style="background:url(${base}/bg.png);width:10px;height:10px"></div>`,
        cssImport: `<style>@import url("${base}/import.css");</style>`,
        font: `<style>@font-face { font-family: x; src: url(${base}/font.woff2); } p { font-family: x }</style>`,
        stylesheet: `<link rel="stylesheet" href="${base}/sheet.css">`,
        refresh: `<meta http-equiv="refresh" content="0;url=${base}/refresh">`,
        refreshToData: `<meta http-equiv="refresh" content="0;url=data:text/html,<p>REPLACED</p>">`,
        object: `<object data="${base}/object"></object><embed src="${base}/embed">`,
        video: `<video poster="${base}/poster.png" src="${base}/video.mp4"></video>`,
        prefetch: `<link rel="prefetch" href="${base}/prefetch"><link rel="preload" as="image" href="${base}/preload.png"><link rel="preconnect" href="${base}">`,
        base: `<base href="${base}/"><img src="relative.png">`,
        svg: `<svg><image href="${base}/svg.png" width="10" height="10"/></svg>`,
        hostname: `<img src="http://localhost:${(server.address() as AddressInfo).port}/by-name.png">`,
      };
      for (const [name, html] of Object.entries(vectors)) {
        const pdf = await renderer.render(`<!doctype html><html><head>${html}</head><body><p>INVOICE ${name}</p></body></html>`);
        const page = await (await getDocument({ data: new Uint8Array(pdf) }).promise).getPage(1);
        const text = (await page.getTextContent()).items.map((item) => ('str' in item ? item.str : '')).join('');
        // The document printed is the template's own, never what an address answered or a refresh put instead.
        expect(text, name).toMatch(new RegExp(`^INVOICE ${name}`));
        expect(text, name).not.toMatch(/SECRET|REPLACED/);
        await new Promise((r) => setTimeout(r, 100));
        expect(connections, name).toEqual([]);
      }
    } finally {
      server.close();
    }
  });

  it('the policy goes first, after a doctype', () => {
    expect(withPolicy('<!DOCTYPE html><p>x</p>')).toMatch(/^<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:;/);
    expect(withPolicy('<p>x</p>')).toMatch(/^<meta http-equiv="Content-Security-Policy"[^>]*><p>x<\/p>$/);
  });
});
