import { afterEach, describe, expect, it } from 'vitest';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { ChromiumPdfRenderer, chromiumPath } from './chromiumPdfRenderer.ts';

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
