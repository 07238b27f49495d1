import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
let owner: { id: string; apiKey: string };
beforeEach(async () => {
  p = await startTestPlatform({ unauthenticatedPerMinute: 5 });
  owner = await p.createOrganization();
});
afterEach(() => p.close());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const admin = bearer(TEST_ADMIN_TOKEN);

function expectProblem(res: LightMyRequestResponse, status: number, detail?: RegExp) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, type: expect.stringContaining('/problems/'), title: expect.any(String), detail: expect.any(String) });
  if (detail) expect(body.detail).toMatch(detail);
  return body;
}

describe('JSON bodies are taken as typed', () => {
  it('refuses null, booleans and numeric strings where the schema wants another type, writing nothing', async () => {
    const before = await p.eventCount();
    const cancel = await p.app.inject({ method: 'POST', url: '/v1/subscription/cancel', headers: bearer(owner.apiKey), payload: { atPeriodEnd: null } });
    expectProblem(cancel, 400, /atPeriodEnd must be boolean/);
    for (const seats of [true, '1e1', '10', 2.5]) {
      const res = await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: bearer(owner.apiKey), payload: { planId: 'city', seats, collectionMethod: 'send_invoice' } });
      expectProblem(res, 400, /seats must be integer/);
    }
    expect(await p.eventCount()).toBe(before);
  });

  it('still coerces querystrings, which are strings on the wire', async () => {
    const res = await p.app.inject({ url: '/v1/admin/dead-letters?status=parked', headers: admin });
    expect(res.statusCode, res.body).toBe(200);
  });
});

describe('currencies and time zones', () => {
  it('accepts a currency in either case and stores it upper-case', async () => {
    const res = await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: admin, payload: { name: 'Ville de Lyon', billingEmail: 'ap@lyon.example', currency: 'eur' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().organization.currency).toBe('EUR');
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: admin, payload: { name: 'X', billingEmail: 'x@x.example', currency: 'EURO' } }), 400, /currency/);
  });

  it('accepts every IANA zone Intl accepts, aliases included, and refuses offsets and made-up names', async () => {
    for (const timeZone of ['Asia/Kolkata', 'Europe/Kyiv', 'Etc/GMT+12', 'America/Santiago', 'UTC']) {
      const res = await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: admin, payload: { name: `Org ${timeZone}`, billingEmail: 'ap@x.example', timeZone } });
      expect(res.statusCode, `${timeZone}: ${res.body}`).toBe(201);
      expect(res.json().organization.timeZone).toBe(timeZone);
    }
    for (const timeZone of ['+05:30', 'Mars/Olympus_Mons', 'Europe/Kyiv; DROP']) {
      expectProblem(await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: admin, payload: { name: 'Nope', billingEmail: 'ap@x.example', timeZone } }), 400, /timeZone/);
    }
  });
});

describe('every error is problem+json', () => {
  it('answers a wrong method on a known path with 405 and Allow', async () => {
    const res = await p.app.inject({ method: 'PUT', url: '/v1/projects', headers: bearer(owner.apiKey), payload: {} });
    expectProblem(res, 405, /PUT is not allowed on \/v1\/projects/);
    expect(res.headers['allow']).toBe('GET, HEAD, POST');
    const param = await p.app.inject({ method: 'PATCH', url: `/v1/api-keys/${owner.id}`, headers: bearer(owner.apiKey), payload: {} });
    expect(param.headers['allow']).toBe('DELETE');
    // A method that carries a body is judged by its method first, whatever its Content-Type or body.
    for (const headers of [{}, { 'content-type': 'application/json' }, { 'content-type': 'text/plain' }]) {
      const query = await p.app.inject({ method: 'QUERY' as never, url: '/v1/projects', headers: { ...bearer(owner.apiKey), ...headers } });
      expectProblem(query, 405, /QUERY is not allowed/);
      expect(query.headers['allow']).toBe('GET, HEAD, POST');
    }
    expectProblem(await p.app.inject({ url: '/v1/nothing-here', headers: bearer(owner.apiKey) }), 404);
  });

  it('answers malformed escapes, long URLs and empty JSON bodies with problems', async () => {
    expectProblem(await p.app.inject({ url: '/v1/projects/%E0%A4%A', headers: bearer(owner.apiKey) }), 400, /percent-escape/);
    expectProblem(await p.app.inject({ url: `/v1/projects?x=${'a'.repeat(9000)}`, headers: bearer(owner.apiKey) }), 414);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...bearer(owner.apiKey), 'content-type': 'application/json' }, payload: '' }), 400, /body is empty/);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...bearer(owner.apiKey), 'content-type': 'application/json' }, payload: '{"name":' }), 400);
  });

  it('reads a DELETE with a JSON content type and no body as no body', async () => {
    const issued = await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(owner.apiKey), payload: { name: 'ci', role: 'member' } });
    const res = await p.app.inject({ method: 'DELETE', url: `/v1/api-keys/${issued.json().apiKey.id}`, headers: { ...bearer(owner.apiKey), 'content-type': 'application/json' } });
    expect(res.statusCode, res.body).toBe(204);
  });

  it('answers oversized header blocks with 431 problem+json on a real socket', async () => {
    await p.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = p.app.server.address() as AddressInfo;
    const answer = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', headers: { 'x-big': 'a'.repeat(20_000) } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(431);
    expect(answer.type).toBe('application/problem+json');
    expect(JSON.parse(answer.body)).toMatchObject({ status: 431, code: 'header_fields_too_large' });
  });
});

describe('authentication', () => {
  it('keeps every route private except health, readiness, docs, the Stripe webhook, signed downloads and the dashboard\'s page and sign-in', async () => {
    const publicRoutes = p.app.routeTable.filter((r) => r.auth === 'public').map((r) => `${r.method} ${r.url}`);
    // A signed download link carries its own authorization (HMAC, expiry, organization): no key.
    // The dashboard's page and assets, and its sign-in (a signed link, or a key checked and rate-limited like any).
    const allowed = /^(GET|HEAD) (\/healthz|\/readyz|\/docs.*|\/downloads\/exports\/:id|\/|\/assets\/:file|\/portal\/enter)$|^POST (\/webhooks\/stripe|\/portal\/enter|\/portal\/sign-in|\/portal\/sign-out)$/;
    expect(publicRoutes.filter((r) => !allowed.test(r))).toEqual([]);
    expect(publicRoutes).toEqual(expect.arrayContaining(['GET /healthz', 'GET /readyz', 'GET /docs', 'GET /docs/json']));
    // Without STRIPE_WEBHOOK_SECRET there is no Stripe webhook endpoint at all (stripeWebhooks.e2e.spec.ts has one).
    expect(publicRoutes).not.toContain('POST /webhooks/stripe');
    for (const route of p.app.routeTable.filter((r) => r.auth !== 'public' && r.method !== 'HEAD')) {
      const url = route.url.replace(/:\w+/g, '00000000-0000-4000-8000-000000000000');
      const res = await p.app.inject({ method: route.method as 'GET', url, remoteAddress: `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` });
      expect(res.statusCode, `${route.method} ${route.url}`).toBe(401);
    }
  });

  it('limits failed authentications per client address, never a valid key sent from it', async () => {
    const from = { remoteAddress: '203.0.113.7' };
    for (let i = 0; i < 5; i++) expectProblem(await p.app.inject({ url: '/v1/organization', headers: bearer(`cmk_guess_${i}`), ...from }), 401);
    const limited = await p.app.inject({ url: '/v1/organization', headers: bearer('cmk_guess_6'), ...from });
    expectProblem(limited, 429, /failed authentications/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: bearer('not-the-admin-token'), payload: {}, ...from })).statusCode).toBe(429);
    // Customers behind the same address (one proxy) are not locked out by a guesser: a valid key still works.
    expect((await p.app.inject({ url: '/v1/organization', headers: bearer(owner.apiKey), ...from })).statusCode).toBe(200);
    // The admin token gets no answer from an address over the limit, even when it is right: no guessing oracle.
    expect((await p.app.inject({ url: '/v1/admin/dead-letters', headers: bearer(TEST_ADMIN_TOKEN), ...from })).statusCode).toBe(429);
    expect((await p.app.inject({ url: '/v1/admin/dead-letters', headers: bearer(TEST_ADMIN_TOKEN), remoteAddress: '203.0.113.8' })).statusCode).toBe(200);
    // Another address is not affected.
    expect((await p.app.inject({ url: '/v1/organization', headers: bearer(owner.apiKey), remoteAddress: '203.0.113.8' })).statusCode).toBe(200);
  });
});

describe('Idempotency-Key replays', () => {
  it('never shows an organization-wide answer to a project-restricted key', async () => {
    const project = (await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(owner.apiKey), payload: { name: 'Uptown' } })).json();
    const restricted = (await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(owner.apiKey), payload: { name: 'field', role: 'owner', projectId: project.id } })).json().key;
    const headers = { 'idempotency-key': 'same-key' };
    const first = await p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...bearer(owner.apiKey), ...headers }, payload: { name: 'Midtown' } });
    expect(first.statusCode).toBe(201);
    const replay = await p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...bearer(owner.apiKey), ...headers }, payload: { name: 'Midtown' } });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(first.body);
    const stolen = await p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...bearer(restricted), ...headers }, payload: { name: 'Midtown' } });
    expectProblem(stolen, 403);
    expect(stolen.headers['idempotent-replayed']).toBeUndefined();
  });

  it('replays an organization creation with the owner key that exists, without its secret', async () => {
    const payload = { name: 'Gotham', billingEmail: 'ap@gotham.example' };
    const headers = { ...admin, 'idempotency-key': 'org-1' };
    const first = await p.app.inject({ method: 'POST', url: '/v1/organizations', headers, payload });
    const again = await p.app.inject({ method: 'POST', url: '/v1/organizations', headers, payload });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toMatchObject({ id: first.json().id, apiKeyId: first.json().apiKeyId, apiKey: null });
    const keys = (await p.app.inject({ url: '/v1/api-keys', headers: bearer(first.json().apiKey) })).json().data;
    expect(keys.map((k: { id: string }) => k.id)).toEqual([first.json().apiKeyId]);
  });
});

describe('owner keys', () => {
  it('refuses to revoke the last owner key; the operator can issue a new one', async () => {
    const keys = (await p.app.inject({ url: '/v1/api-keys', headers: bearer(owner.apiKey) })).json().data;
    const before = await p.eventCount();
    expectProblem(await p.app.inject({ method: 'DELETE', url: `/v1/api-keys/${keys[0].id}`, headers: bearer(owner.apiKey) }), 409, /last organization-wide owner key/);
    expect(await p.eventCount()).toBe(before);
    expectProblem(await p.app.inject({ method: 'POST', url: `/v1/admin/organizations/${owner.id}/api-keys`, headers: bearer(owner.apiKey), payload: {} }), 401);
    const recovery = await p.app.inject({ method: 'POST', url: `/v1/admin/organizations/${owner.id}/api-keys`, headers: admin, payload: {} });
    expect(recovery.statusCode, recovery.body).toBe(201);
    expect(recovery.json().apiKey).toMatchObject({ role: 'owner', projectId: null });
    const newKey = recovery.json().key;
    expect((await p.app.inject({ method: 'DELETE', url: `/v1/api-keys/${keys[0].id}`, headers: bearer(newKey) })).statusCode).toBe(204);
    expect((await p.app.inject({ url: '/v1/organization', headers: bearer(newKey) })).statusCode).toBe(200);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/admin/organizations/00000000-0000-4000-8000-000000000000/api-keys', headers: admin, payload: {} }), 404);
  });
});
