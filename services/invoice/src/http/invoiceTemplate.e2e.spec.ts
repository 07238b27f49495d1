import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { DEFAULT_TEMPLATE } from '../domain/template/invoiceDocument.ts';
import { formatDate, formatMoney } from '../domain/template/money.ts';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform({ now: () => new Date('2027-05-10T12:00:00Z') });
});
afterEach(() => p.close());

describe('invoice templates', () => {
  it('refuse a template that does not compile or leaves out a required field, and render invoices in the organization\'s locale, escaped', async () => {
    const org = await p.createOrganization('Ville de Lyon', { timeZone: 'Europe/Paris' });
    const key = { authorization: `Bearer ${org.apiKey}` };
    const call = (method: 'GET' | 'PUT' | 'POST', url: string, payload?: object) => p.app.inject({ method, url, headers: key, ...(payload ? { payload } : {}) });
    expect((await call('GET', '/v1/invoice-template')).json()).toMatchObject({ custom: false, template: DEFAULT_TEMPLATE });
    // Until its billing details are set, an invoice names the organization as it was created.
    expect((await call('GET', '/v1/invoice-template/preview')).body).toContain('<strong>Ville de Lyon</strong>');
    await call('PUT', '/v1/organization/billing-details', { legalName: 'Ville de Lyon <script>alert(1)</script>', addressLines: ['1 place de la Comédie'], country: 'FR', taxId: 'FR12345678901', locale: 'fr-FR' });

    const before = await p.eventCount();
    const broken = await call('PUT', '/v1/invoice-template', { template: '<h1>{{#if number}}</h1>' });
    expect(broken.statusCode).toBe(422);
    expect(broken.json().detail).toMatch(/does not compile/);
    const incomplete = await call('PUT', '/v1/invoice-template', { template: DEFAULT_TEMPLATE.replace('<br>Tax ID: {{customer.taxId}}', '') });
    expect(incomplete.statusCode).toBe(422);
    expect(incomplete.json().detail).toBe('the template does not show {{customer.taxId}}');
    expect(await p.eventCount()).toBe(before);

    const custom = await call('PUT', '/v1/invoice-template', { template: DEFAULT_TEMPLATE.replace('<h1>', '<h1 class="lyon">'), branding: { primaryColor: '#c8102e', footer: 'Merci' } });
    expect(custom.statusCode, custom.body).toBe(200);
    expect(custom.json()).toMatchObject({ custom: true, branding: { primaryColor: '#c8102e', footer: 'Merci' } });
    const preview = await call('GET', '/v1/invoice-template/preview');
    expect(preview.headers['content-type']).toMatch(/text\/html/);
    expect(preview.body).toContain('class="lyon"');
    expect(preview.body).toContain('color: #c8102e');
    expect(preview.body).toContain('Ville de Lyon &lt;script&gt;');
    expect(preview.body).not.toContain('<script>');
    // The organization's own HTML runs no script where it is served.
    expect(preview.headers['content-security-policy']).toMatch(/default-src 'none'/);

    expect((await call('POST', '/v1/subscription', { planId: 'city', seats: 2 })).statusCode).toBe(201);
    await p.settle();
    const [invoice] = (await call('GET', '/v1/invoices')).json().data as { id: string; number: string; total: number; currency: string; dueAt: string }[];
    const page = await call('GET', `/v1/invoices/${invoice!.id}/html`);
    expect(page.statusCode).toBe(200);
    for (const text of [invoice!.number, formatMoney(invoice!.total, invoice!.currency, 'fr-FR'), formatDate(invoice!.dueAt, 'fr-FR', 'Europe/Paris'), 'FR12345678901', 'CurbMap, Inc.', 'Merci']) expect(page.body).toContain(text);
    // Back to the default template.
    expect((await call('PUT', '/v1/invoice-template', { template: null })).json()).toMatchObject({ custom: false, branding: { footer: 'Merci' } });
  });

  it('take a logo as an uploaded image only: a link to an address is refused, nothing written', async () => {
    const org = await p.createOrganization('Ville de Lyon', { timeZone: 'Europe/Paris' });
    const call = (method: 'GET' | 'PUT', url: string, payload?: object) => p.app.inject({ method, url, headers: { authorization: `Bearer ${org.apiKey}` }, ...(payload ? { payload } : {}) });
    const before = await p.eventCount();
    for (const branding of [{ logoUrl: 'http://169.254.169.254/latest/meta-data/' }, { logo: 'http://127.0.0.1:8080/readyz' }, { logo: 'data:text/html;base64,PHA+eDwvcD4=' }, { logo: 'data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=' }]) {
      const res = await call('PUT', '/v1/invoice-template', { branding });
      expect(res.statusCode, JSON.stringify(branding)).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect(await p.eventCount()).toBe(before);
    const png = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
    const saved = await call('PUT', '/v1/invoice-template', { branding: { logo: png } });
    expect(saved.statusCode, saved.body).toBe(200);
    expect(saved.json().branding).toMatchObject({ logo: png });
    const preview = await call('GET', '/v1/invoice-template/preview');
    expect(preview.body).toContain(`<img src="${png.slice(0, 40)}`);
    expect(preview.headers['content-security-policy']).toMatch(/default-src 'none'; img-src data:;/);
  });

  it('drop a logo link set before logos were uploads: neither served nor kept', async () => {
    const org = await p.createOrganization('Ville de Lyon', { timeZone: 'Europe/Paris' });
    const call = (method: 'GET' | 'PUT', url: string, payload?: object) => p.app.inject({ method, url, headers: { authorization: `Bearer ${org.apiKey}` }, ...(payload ? { payload } : {}) });
    await p.ctx.store.append(`invoicetemplate-${org.id}`, [{ id: '7e000000-0000-4000-8000-000000000001', type: 'invoice.template.set', data: { source: null, branding: { logoUrl: 'http://169.254.169.254/logo.png', primaryColor: '#112233', footer: null } }, occurredAt: '2027-05-10T12:00:00.000Z', organizationId: org.id, correlationId: 'c' }], { expectedVersion: 'any' });
    await p.settle();
    expect((await call('GET', '/v1/invoice-template')).json().branding).toMatchObject({ logoUrl: null, primaryColor: '#112233' });
    expect((await call('GET', '/v1/invoice-template/preview')).body).not.toContain('169.254.169.254');
    await call('PUT', '/v1/invoice-template', { branding: { footer: 'Merci' } });
    let last: unknown;
    for await (const e of p.ctx.store.readStream(`invoicetemplate-${org.id}`)) last = e.data;
    expect(last).toMatchObject({ branding: { logoUrl: null, footer: 'Merci', primaryColor: '#112233' } });
  });

  it('preview a realistic invoice of the organization (its currency, tax and dates), never the check\'s placeholders', async () => {
    const org = await p.createOrganization('City of Springfield', { currency: 'USD', timeZone: 'America/Chicago' });
    await p.app.inject({ method: 'PUT', url: `/v1/admin/organizations/${org.id}/tax-settings`, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, payload: { rateBasisPoints: 1000, mode: 'exclusive' } });
    await p.settle();
    const preview = (await p.app.inject({ url: '/v1/invoice-template/preview', headers: { authorization: `Bearer ${org.apiKey}` } })).body;
    expect(preview).not.toMatch(/SAMPLE/);
    for (const text of ['CM-2027-000001', '5 × City (annual)', '$18,000.00', '$1,800.00', '$19,800.00', 'City of Springfield']) expect(preview).toContain(text);
  });
});
