import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform();
});
afterEach(() => p.close());

describe('billing details', () => {
  it('are set by an owner or billing admin, read by any key of the organization, and refused in shapes an invoice cannot carry', async () => {
    const org = await p.createOrganization('Ville de Lyon', { currency: 'EUR', timeZone: 'Europe/Paris' });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const put = (payload: object, key = org.apiKey) => p.app.inject({ method: 'PUT', url: '/v1/organization/billing-details', headers: as(key), payload });
    const details = { legalName: 'Ville de Lyon', addressLines: ['1 place de la Comédie', '69001 Lyon'], country: 'FR', taxId: 'FR 12 345678901', locale: 'fr-fr' };
    expect((await p.app.inject({ url: '/v1/organization/billing-details', headers: as(org.apiKey) })).statusCode).toBe(404);
    const member = (await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: as(org.apiKey), payload: { name: 'staff', role: 'member' } })).json().key as string;
    expect((await put(details, member)).statusCode).toBe(403);
    const before = await p.eventCount();
    for (const bad of [{ ...details, country: 'XX' }, { ...details, locale: '!!' }, { ...details, country: 'fr' }, { ...details, addressLines: [] }]) {
      const res = await put(bad);
      expect([400, 422], res.body).toContain(res.statusCode);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect(await p.eventCount()).toBe(before);
    const saved = await put(details);
    expect(saved.statusCode, saved.body).toBe(200);
    expect(saved.json()).toMatchObject({ legalName: 'Ville de Lyon', taxId: 'FR12345678901', locale: 'fr-FR', country: 'FR' });
    expect((await p.app.inject({ url: '/v1/organization/billing-details', headers: as(member) })).json()).toMatchObject({ taxId: 'FR12345678901' });
    const other = await p.createOrganization('Shelbyville');
    expect((await p.app.inject({ url: '/v1/organization/billing-details', headers: as(other.apiKey) })).statusCode).toBe(404);
  });
});
