import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';
import { chromiumPath } from '../adapters/chromiumPdfRenderer.ts';
import { formatMoney } from '../domain/template/money.ts';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform({ now: () => new Date('2027-05-10T12:00:00Z') });
});
afterEach(() => p.close());

async function pdfText(pdf: Buffer): Promise<string> {
  const doc = await getDocument({ data: new Uint8Array(pdf), useSystemFonts: true }).promise;
  let text = '';
  for (let i = 1; i <= doc.numPages; i++) {
    const content = await (await doc.getPage(i)).getTextContent();
    text += content.items.map((item) => ('str' in item ? item.str : '')).join(' ');
  }
  await doc.cleanup();
  return text;
}

describe.skipIf(!chromiumPath())('invoice PDFs (Chromium)', () => {
  it('print the invoice (number, lines, tax, totals) once, and serve the same bytes with their checksum from then on', async () => {
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const key = { authorization: `Bearer ${org.apiKey}` };
    await p.app.inject({ method: 'PUT', url: `/v1/admin/organizations/${org.id}/tax-settings`, headers: { authorization: 'Bearer test-admin-token-0123456789abcdef' }, payload: { rateBasisPoints: 825, mode: 'exclusive' } });
    await p.app.inject({ method: 'PUT', url: '/v1/organization/billing-details', headers: key, payload: { legalName: 'City of Springfield', addressLines: ['742 Evergreen Terrace'], country: 'US', taxId: 'US-EIN-12-3456789', locale: 'en-US' } });
    expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: key, payload: { planId: 'city', seats: 2 } })).statusCode).toBe(201);
    await p.settle();
    const [invoice] = (await p.app.inject({ url: '/v1/invoices', headers: key })).json().data as { id: string; number: string; total: number; tax: { amount: number } }[];
    const first = await p.app.inject({ url: `/v1/invoices/${invoice!.id}/pdf`, headers: key });
    expect(first.statusCode, first.body.slice(0, 300)).toBe(200);
    expect(first.headers['content-type']).toBe('application/pdf');
    expect(first.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
    expect(first.headers['x-content-sha256']).toBe(createHash('sha256').update(first.rawPayload).digest('hex'));
    // Text runs split at ligatures ("fi"): compared without white space.
    const squeeze = (t: string) => t.replace(/\s+/g, '');
    const text = squeeze(await pdfText(first.rawPayload));
    for (const expected of [invoice!.number, 'City of Springfield', 'US-EIN-12-3456789', '2 × City (annual)', formatMoney(invoice!.total, 'USD', 'en-US'), formatMoney(invoice!.tax.amount, 'USD', 'en-US'), '8.25 %', 'June 9, 2027']) expect(text).toContain(squeeze(expected));
    // Kept: the same bytes again, whatever changes later (a new template does not rewrite an issued invoice).
    await p.app.inject({ method: 'PUT', url: '/v1/invoice-template', headers: key, payload: { branding: { primaryColor: '#000000' } } });
    const again = await p.app.inject({ url: `/v1/invoices/${invoice!.id}/pdf`, headers: key });
    expect(Buffer.compare(again.rawPayload, first.rawPayload)).toBe(0);
    const other = await p.createOrganization('Shelbyville');
    expect((await p.app.inject({ url: `/v1/invoices/${invoice!.id}/pdf`, headers: { authorization: `Bearer ${other.apiKey}` } })).statusCode).toBe(404);
  });
});
