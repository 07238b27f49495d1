import { afterEach, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform | null = null;
afterEach(async () => {
  await p?.close();
  p = null;
});
const remittance = { bank: 'First Republic of Curbs', accountHolder: 'CurbMap, Inc.', iban: 'DE89 3704 0044 0532 0130 00', accountNumber: null, routingNumber: null, swiftBic: 'COBADEFFXXX', reference: 'CM invoice {number}' };

it('prints the operator\'s bank account and the reference to quote on invoices paid by transfer, and serves them to the dashboard', async () => {
  p = await startTestPlatform({ now: () => new Date('2027-03-10T15:30:00Z'), modules: { remittance } });
  const org = await p.createOrganization('City of Springfield', { currency: 'USD' });
  const headers = { authorization: `Bearer ${org.apiKey}` };
  expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers, payload: { planId: 'city', seats: 1 } })).statusCode).toBe(201);
  await p.settle();
  const [invoice] = (await p.app.inject({ url: '/v1/invoices', headers })).json().data;
  const html = (await p.app.inject({ url: `/v1/invoices/${invoice.id}/html`, headers })).body;
  for (const text of ['Pay by bank transfer to', 'First Republic of Curbs', 'DE89 3704 0044 0532 0130 00', 'COBADEFFXXX', `CM invoice ${invoice.number}`]) expect(html).toContain(text);
  const details = (await p.app.inject({ url: '/v1/remittance-details', headers })).json();
  expect(details.payTo).toEqual(expect.arrayContaining([{ label: 'IBAN', value: 'DE89 3704 0044 0532 0130 00' }, { label: 'Reference', value: 'CM invoice the invoice number' }]));
});

it('says there is no account when the operator configured none', async () => {
  p = await startTestPlatform();
  const org = await p.createOrganization('City of Springfield', { currency: 'USD' });
  expect((await p.app.inject({ url: '/v1/remittance-details', headers: { authorization: `Bearer ${org.apiKey}` } })).json()).toEqual({ remittance: expect.any(String), payTo: null });
});
