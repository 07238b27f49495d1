import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPlans } from '@curbmap/contracts';
import { simpleParser } from 'mailparser';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { SmtpSink } from '@curbmap/invoice';

let p: TestPlatform | null = null;
let dir: string | null = null;
let sink: SmtpSink | null = null;
afterEach(async () => {
  await p?.close();
  p = null;
  await sink?.close();
  sink = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

const DAY = 86_400_000;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const city = defaultPlans.find((plan) => plan.id === 'city')!;
const { id: _id, ...cityTerms } = city;
/** City's terms from version 2 on: a dearer seat, and fewer API requests included. */
const raised = { ...cityTerms, seatPrices: { ...city.seatPrices, USD: 400_000 }, includedUsage: { ...city.includedUsage, api_requests: 8_000_000 } };

function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, headers: Record<string, string>, payload?: object) {
  return p!.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
}

/** The first `count` mails with this subject the sink receives (mails of earlier invoices come first, in no set order). */
async function mailsWithSubject(subject: string, count: number) {
  for (let i = 0; i < 300; i++) {
    const found = (await Promise.all(sink!.received.map((m) => simpleParser(m.raw)))).filter((m) => m.subject === subject);
    if (found.length >= count) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${count} mails "${subject}"`);
}
const mailWithSubject = async (subject: string) => (await mailsWithSubject(subject, 1))[0]!;

async function subscribedOrganization(name: string) {
  const org = await p!.createOrganization(name, { currency: 'USD' });
  const headers = { authorization: `Bearer ${org.apiKey}` };
  const created = await call('POST', '/v1/subscription', headers, { planId: 'city', seats: 2 });
  expect(created.statusCode, created.body).toBe(201);
  await p!.settle();
  return { ...org, headers };
}

describe('plans: operator-managed price versions', () => {
  it('seeds version 1 from the catalogue; a new version sells from its date on, and what was sold keeps its terms', async () => {
    let clock = new Date('2027-03-10T15:00:00Z');
    p = await startTestPlatform({ now: () => clock });
    const org = await p.createOrganization('Reader', { currency: 'USD' });
    const customer = { authorization: `Bearer ${org.apiKey}` };

    const plans = (await call('GET', '/v1/plans', customer)).json().data as { id: string; version: number; effectiveFrom: string; seatPrices: Record<string, number> }[];
    expect(plans.map((plan) => [plan.id, plan.version, plan.effectiveFrom])).toEqual(defaultPlans.map((plan) => [plan.id, 1, '1970-01-01T00:00:00.000Z']));
    expect(plans.find((plan) => plan.id === 'city')!.seatPrices['USD']).toBe(360_000);

    // Prices are the operator's: an organization's key changes none; bad versions are refused and write nothing.
    const before = await p.eventCount();
    const next = { ...raised, effectiveFrom: new Date(clock.getTime() + 10 * DAY).toISOString() };
    expect((await call('POST', '/v1/admin/plans/city/versions', customer, next)).statusCode).toBe(401);
    expect((await call('POST', '/v1/admin/plans/city/versions', admin, { ...next, seatPrices: { USD: 1.5 } })).statusCode).toBe(400);
    expect((await call('POST', '/v1/admin/plans/city/versions', admin, { ...next, surprise: true })).statusCode).toBe(400);
    const past = await call('POST', '/v1/admin/plans/city/versions', admin, { ...next, effectiveFrom: '2027-03-01T00:00:00Z' });
    expect(past.statusCode).toBe(422);
    expect(past.json().detail).toMatch(/in the past/);
    expect((await call('POST', '/v1/admin/plans/city/versions', admin, { ...cityTerms })).statusCode).toBe(422); // version 1's terms again
    expect((await call('POST', '/v1/admin/plans/metro/versions', admin, next)).statusCode).toBe(404);
    const unknownCurrency = await call('POST', '/v1/admin/plans/city/versions', admin, { ...next, seatPrices: { ...next.seatPrices, AAA: 1 } });
    expect([unknownCurrency.statusCode, unknownCurrency.json().detail]).toEqual([422, expect.stringMatching(/not ISO 4217 currencies: AAA/)]);
    expect((await call('POST', '/v1/admin/plans/city/versions', admin, { ...next, seatPrices: { ...next.seatPrices, usd: 1 } })).statusCode).toBe(400);
    // A version cannot stop selling a currency subscriptions are in, nor leave overage unpriced in one.
    const dropped = await call('POST', '/v1/admin/plans/city/versions', admin, { ...next, seatPrices: { USD: 400_000 } });
    expect([dropped.statusCode, dropped.json().detail]).toEqual([422, expect.stringMatching(/EUR, JPY/)]);
    const unpriced = await call('POST', '/v1/admin/plans/city/versions', admin, { ...next, overage: { ...raised.overage, export_jobs: { unitSize: 1, prices: { USD: 200 } } } });
    expect([unpriced.statusCode, unpriced.json().detail]).toEqual([422, expect.stringMatching(/export_jobs in EUR/)]);
    expect(await p.eventCount()).toBe(before);

    // Version 2, from ten days on; a retry (same Idempotency-Key) is the same version, not a third.
    const added = await call('POST', '/v1/admin/plans/city/versions', { ...admin, 'idempotency-key': 'city-2028-prices' }, next);
    expect(added.statusCode, added.body).toBe(201);
    expect(added.json().versions.map((v: { version: number; effectiveFrom: string }) => [v.version, v.effectiveFrom])).toEqual([[1, '1970-01-01T00:00:00.000Z'], [2, '2027-03-20T15:00:00.000Z']]);
    expect((await call('POST', '/v1/admin/plans/city/versions', { ...admin, 'idempotency-key': 'city-2028-prices' }, next)).json().versions).toHaveLength(2);
    const later = await call('POST', '/v1/admin/plans/city/versions', admin, { ...raised, seatPrices: { ...raised.seatPrices, USD: 410_000 }, effectiveFrom: '2027-03-15T00:00:00Z' });
    expect(later.statusCode).toBe(422); // before version 2's date: versions take effect in order

    // Until then the plan sells at version 1.
    const early = await subscribedOrganization('Early City');
    expect((await call('GET', '/v1/plans', customer)).json().data.find((plan: { id: string }) => plan.id === 'city')).toMatchObject({ version: 1, seatPrices: { USD: 360_000 } });
    const earlyInvoice = (await call('GET', '/v1/invoices', early.headers)).json().data[0];
    expect(earlyInvoice.total).toBe(2 * 360_000);

    // From its date on, at version 2; the early subscription and its invoice keep theirs.
    clock = new Date('2027-03-21T09:00:00Z');
    expect((await call('GET', '/v1/plans', customer)).json().data.find((plan: { id: string }) => plan.id === 'city')).toMatchObject({ version: 2, seatPrices: { USD: 400_000 } });
    const late = await subscribedOrganization('Late City');
    expect((await call('GET', '/v1/subscription', late.headers)).json().unitAmount).toBe(400_000);
    expect((await call('GET', '/v1/invoices', late.headers)).json().data[0].total).toBe(2 * 400_000);
    expect((await call('GET', '/v1/subscription', early.headers)).json().unitAmount).toBe(360_000);
    expect((await call('GET', `/v1/invoices/${earlyInvoice.id}`, early.headers)).json().total).toBe(2 * 360_000);

    // Usage reads its own copy of the catalogue: each year's included amounts are its plan's when the year began.
    const included = async (headers: Record<string, string>) => ((await call('GET', '/v1/usage/quotas', headers)).json().meters as { meter: string; included: number }[]).find((m) => m.meter === 'api_requests')!.included;
    expect(await included(early.headers)).toBe(10_000_000);
    expect(await included(late.headers)).toBe(8_000_000);

    // The operator sees every version; another organization's key sees none of the admin routes.
    expect((await call('GET', '/v1/admin/plans/city', admin)).json().versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    expect((await call('GET', '/v1/admin/plans', late.headers)).statusCode).toBe(401);
  });

  it('puts a new plan on sale once; a restart seeds nothing again, and a plans file changed since is reported, not applied', async () => {
    dir = mkdtempSync(join(tmpdir(), 'plans-'));
    const dataDir = join(dir, 'data');
    const plansFile = join(dir, 'plans.json');
    writeFileSync(plansFile, JSON.stringify(defaultPlans));
    const clock = new Date('2027-03-10T15:00:00Z');
    p = await startTestPlatform({ now: () => clock, dataDir, modules: { plansFile } });
    const metro = { id: 'metro', ...cityTerms, name: 'Metro', tier: 4, seatPrices: { USD: 1_200_000 } };
    const created = await call('POST', '/v1/admin/plans', admin, metro);
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().versions).toEqual([expect.objectContaining({ id: 'metro', version: 1, effectiveFrom: clock.toISOString(), seatPrices: { USD: 1_200_000 } })]);
    const again = await call('POST', '/v1/admin/plans', admin, metro);
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toContain('application/problem+json');
    expect((await call('POST', '/v1/admin/plans/city/versions', admin, raised)).statusCode).toBe(201); // from now
    await p.close();

    // The file now says otherwise about city: the log is what prices are, the file only seeded them.
    writeFileSync(plansFile, JSON.stringify(defaultPlans.map((plan) => (plan.id === 'city' ? { ...plan, seatPrices: { USD: 1 } } : plan))));
    p = await startTestPlatform({ now: () => clock, dataDir, modules: { plansFile } });
    const all = (await call('GET', '/v1/admin/plans', admin)).json().data as { id: string; versions: { version: number; seatPrices: Record<string, number> }[] }[];
    expect(all.map((plan) => [plan.id, plan.versions.length])).toEqual([['city', 2], ['enterprise', 1], ['metro', 1], ['starter', 1]]);
    expect(all.find((plan) => plan.id === 'city')!.versions.at(-1)!.seatPrices['USD']).toBe(400_000);
    const org = await p.createOrganization('Metro Region', { currency: 'USD' });
    const sold = await call('POST', '/v1/subscription', { authorization: `Bearer ${org.apiKey}` }, { planId: 'metro', seats: 1 });
    expect(sold.statusCode, sold.body).toBe(201);
    expect((await call('GET', '/v1/subscription', { authorization: `Bearer ${org.apiKey}` })).json().unitAmount).toBe(1_200_000);
  });

  it('renews at the price sold (grandfathered) by default; with current_price at the version in effect, the notice stating old and new price', async () => {
    let clock = new Date('2027-03-10T15:00:00Z');
    sink = new SmtpSink();
    p = await startTestPlatform({ now: () => clock, modules: { smtpUrl: await sink.listen(), renewalReminderIntervalMs: 3_600_000 } });
    const keeps = await subscribedOrganization('Keeps City');
    // Sold before price versions were recorded: its events name no version.
    const legacy = await p.createOrganization('Legacy City', { currency: 'USD' });
    const legacyHeaders = { authorization: `Bearer ${legacy.apiKey}` };
    const year = { periodStart: '2027-03-10T06:00:00.000Z', periodEnd: '2028-03-10T06:00:00.000Z' };
    await p.ctx.store.append(`subscription-${legacy.id}`, [{
      id: randomUUID(), type: 'billing.subscription.activated', occurredAt: clock.toISOString(), organizationId: legacy.id,
      data: { subscriptionId: randomUUID(), planId: 'city', planName: 'City', seats: 2, currency: 'USD', unitAmount: 360_000, collectionMethod: 'send_invoice', daysUntilDue: 30, poNumber: null, timeZone: 'America/Chicago', provider: 'manual', providerSubscriptionId: null, ...year, amount: 720_000, lines: [{ description: '2 × City (annual)', quantity: 2, unitAmount: 360_000, amount: 720_000, ...year }] },
    }], { expectedVersion: 'no_stream' });
    await p.settle();
    clock = new Date('2027-04-20T15:00:00Z');
    const moves = await subscribedOrganization('Moves City');
    // City's price rises from June on: both were sold at version 1.
    clock = new Date('2027-05-01T15:00:00Z');
    expect((await call('POST', '/v1/admin/plans/city/versions', admin, { ...raised, effectiveFrom: '2027-06-01T00:00:00Z' })).statusCode).toBe(201);

    // The default (keep_price): the renewal keeps the price and the version it was sold at, and so does usage.
    clock = new Date('2028-03-10T12:00:00Z');
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ renewed: 2 });
    await p.settle();
    expect((await call('GET', '/v1/subscription', keeps.headers)).json()).toMatchObject({ unitAmount: 360_000, planVersion: 1, currentPeriodStart: '2028-03-10T06:00:00.000Z' });
    // The one sold before versions keeps its price too, and now records the version that price is (not June's).
    expect((await call('GET', '/v1/subscription', legacyHeaders)).json()).toMatchObject({ unitAmount: 360_000, planVersion: 1 });
    expect((await call('GET', '/v1/invoices', keeps.headers)).json().data.map((i: { total: number }) => i.total)).toEqual([720_000, 720_000]);
    const included = async (headers: Record<string, string>) => ((await call('GET', '/v1/usage/quotas', headers)).json().meters as { meter: string; included: number }[]).find((m) => m.meter === 'api_requests')!.included;
    expect(await included(keeps.headers)).toBe(10_000_000);
    expect(await included(legacyHeaders)).toBe(10_000_000);

    // Renewals move to the current version from now on; only the operator says so.
    expect((await call('GET', '/v1/admin/plans/city', admin)).json().renewalPolicy).toBe('keep_price');
    const policy = (await call('PUT', '/v1/admin/plans/city/renewal-policy', moves.headers, { renewalPolicy: 'current_price' }));
    expect(policy.statusCode).toBe(401);
    expect((await call('PUT', '/v1/admin/plans/city/renewal-policy', admin, { renewalPolicy: 'sometimes' })).statusCode).toBe(400);
    const set = await call('PUT', '/v1/admin/plans/city/renewal-policy', admin, { renewalPolicy: 'current_price' });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json().renewalPolicy).toBe('current_price');
    await p.settle();

    // The notice 30 days ahead states the old and the new price.
    clock = new Date('2028-03-21T12:00:00Z');
    expect(await p.modules.invoice.notifications!.remindRenewals(clock)).toBe(1);
    await p.settle();
    const notice = await mailWithSubject('Your CurbMap subscription renews in 30 days');
    expect(notice.text).toContain('Its price changes from $3,600.00 to $4,000.00 per seat per year.');

    // A version made after the last notice (7 days before) and effective before the renewal was never announced:
    // it applies from the next renewal, not this one.
    clock = new Date('2028-04-14T12:00:00Z');
    const unannounced = await call('POST', '/v1/admin/plans/city/versions', admin, { ...raised, seatPrices: { ...raised.seatPrices, USD: 450_000 }, effectiveFrom: '2028-04-15T00:00:00Z' });
    expect(unannounced.statusCode, unannounced.body).toBe(201);
    await p.settle();

    // Renewed at version 2: its price, its invoice and its included usage.
    clock = new Date('2028-04-20T12:00:00Z');
    expect(await p.modules.billing.scheduler!.tick(clock)).toMatchObject({ renewed: 1 });
    await p.settle();
    expect((await call('GET', '/v1/subscription', moves.headers)).json()).toMatchObject({ unitAmount: 400_000, planVersion: 2 });
    expect((await call('GET', '/v1/invoices', moves.headers)).json().data.map((i: { total: number }) => i.total)).toEqual([800_000, 720_000]);
    expect(await included(moves.headers)).toBe(8_000_000);
    // The subscription that renewed before keeps its year as sold.
    expect(await included(keeps.headers)).toBe(10_000_000);
  });

  it('tells of a downgrade waiting for the renewal in the renewal notice: the plan and the price that renew', async () => {
    let clock = new Date('2027-03-10T15:00:00Z');
    sink = new SmtpSink();
    p = await startTestPlatform({ now: () => clock, modules: { smtpUrl: await sink.listen(), renewalReminderIntervalMs: 3_600_000 } });
    const org = await subscribedOrganization('Shrinking City');
    const down = await call('PATCH', '/v1/subscription', org.headers, { planId: 'starter' });
    expect(down.statusCode, down.body).toBe(200);
    expect(down.json().change).toMatchObject({ effective: 'renewal' });
    // Another downgrades, then upgrades at once: the upgrade drops the waiting downgrade, and the notice says so.
    const regrets = await subscribedOrganization('Regretting City');
    expect((await call('PATCH', '/v1/subscription', regrets.headers, { planId: 'starter' })).json().change).toMatchObject({ effective: 'renewal' });
    expect((await call('PATCH', '/v1/subscription', regrets.headers, { planId: 'enterprise' })).json().change).toMatchObject({ effective: 'now' });
    await p.settle();
    clock = new Date('2028-02-10T12:00:00Z');
    expect(await p.modules.invoice.notifications!.remindRenewals(clock)).toBe(2);
    await p.settle();
    const texts = (await mailsWithSubject('Your CurbMap subscription renews in 30 days', 2)).map((m) => m.text ?? '');
    const shrinking = texts.find((t) => t.includes('Starter'))!;
    expect(shrinking).toContain('Your Starter subscription (2 seats) renews on');
    expect(shrinking).toContain('Its price changes from $3,600.00 to $1,200.00 per seat per year.');
    expect(texts.filter((t) => t.includes('Your Enterprise subscription (2 seats) renews on') && !t.includes('price changes'))).toHaveLength(1);
  });
});
