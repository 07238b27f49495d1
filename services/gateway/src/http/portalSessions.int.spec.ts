import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
let clock: Date;
let owner: { id: string; apiKey: string };
beforeEach(async () => {
  clock = new Date('2027-03-01T12:00:00Z');
  p = await startTestPlatform({ now: () => clock });
  owner = await p.createOrganization('City of Springfield');
});
afterEach(() => p.close());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const cookieOf = (setCookie: string | string[] | undefined) => String(Array.isArray(setCookie) ? setCookie[0] : setCookie).split(';')[0]!;

async function issueKey(role: string) {
  const res = await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(owner.apiKey), payload: { name: role, role } });
  const body = res.json() as { key: string; apiKey: { id: string } };
  return { id: body.apiKey.id, key: body.key };
}

/** Uses a link as a browser does: the page the link opens, then its button (a form POST of the token). */
const useLink = (url: URL) => p.app.inject({ method: 'POST', url: '/portal/enter', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ token: url.searchParams.get('token')! }).toString() });

async function enter(role = 'billing_admin', key = owner.apiKey) {
  const link = await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: bearer(key), payload: { role } });
  expect(link.statusCode, link.body).toBe(201);
  const url = new URL(link.json().url);
  const page = await p.app.inject({ url: `${url.pathname}${url.search}` });
  expect(page.statusCode, page.body).toBe(200);
  return useLink(url);
}

describe('portal sessions', () => {
  it('build links on the platform\'s public URL, never on the request\'s Host header', async () => {
    const link = await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: { ...bearer(owner.apiKey), host: 'evil.example' }, payload: {} });
    expect(link.statusCode, link.body).toBe(201);
    expect(link.json().url).toMatch(/^http:\/\/localhost:8080\/portal\/enter\?token=/);
  });

  it('turn a short-lived link into an HttpOnly, SameSite=Strict cookie session with the link\'s role, and a redirect to /', async () => {
    const res = await enter('billing_admin');
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/');
    expect(String(res.headers['set-cookie'])).toMatch(/^curbmap_session=[\w-]+\.[\w-]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    const me = await p.app.inject({ url: '/v1/portal/me', headers: { cookie: cookieOf(res.headers['set-cookie']) } });
    expect(me.json()).toMatchObject({ organization: { id: owner.id, name: 'City of Springfield' }, role: 'billing_admin', projectId: null });
  });

  it('are only made by owners and billing admins, never with more than the key\'s own role', async () => {
    const viewer = await issueKey('read_only');
    expect((await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: bearer(viewer.key), payload: {} })).statusCode).toBe(403);
    const admin = await issueKey('billing_admin');
    const tooHigh = await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: bearer(admin.key), payload: { role: 'owner' } });
    expect(tooHigh.statusCode).toBe(403);
    expect(tooHigh.json().detail).toMatch(/more than this key's role/);
  });

  it('refuse changes without the portal header, forged or swapped tokens, expired links and revoked keys', async () => {
    const cookie = cookieOf((await enter('billing_admin')).headers['set-cookie']);
    const endpoint = { url: 'https://93.184.216.34/hooks', events: ['invoice.issued'] };
    // Another site's form could send the cookie (were it not SameSite), never this header.
    expect((await p.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: { cookie }, payload: endpoint })).statusCode).toBe(403);
    expect((await p.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: { cookie, 'x-curbmap-portal': '1' }, payload: endpoint })).statusCode).toBe(201);
    const [payload, mac] = cookie.split('=')[1]!.split('.');
    const forged = `curbmap_session=${Buffer.from(JSON.stringify([owner.id, 'x', 'owner', null, Date.now() + 1e9])).toString('base64url')}.${mac}`;
    expect((await p.app.inject({ url: '/v1/portal/me', headers: { cookie: forged } })).statusCode).toBe(401);
    // A link is not a session, nor the reverse.
    const link = new URL((await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: bearer(owner.apiKey), payload: {} })).json().url);
    expect((await p.app.inject({ url: '/v1/portal/me', headers: { cookie: `curbmap_session=${link.searchParams.get('token')}` } })).statusCode).toBe(401);
    expect((await p.app.inject({ url: `/portal/enter?token=${payload}.${mac}` })).headers.location).toBe('/#/sign-in?link=expired');
    // 15 minutes later the link no longer opens anything; the session made before still works, for 8 hours.
    clock = new Date(clock.getTime() + 16 * 60_000);
    const late = await p.app.inject({ url: `${link.pathname}${link.search}` });
    expect([late.statusCode, late.headers.location, late.headers['set-cookie']]).toEqual([303, '/#/sign-in?link=expired', undefined]);
    expect((await p.app.inject({ url: '/v1/portal/me', headers: { cookie } })).statusCode).toBe(200);
    clock = new Date(clock.getTime() + 8 * 3_600_000);
    expect((await p.app.inject({ url: '/v1/portal/me', headers: { cookie } })).statusCode).toBe(401);
  });

  it('end when the key that opened them is revoked, and see only their own organization', async () => {
    const admin = await issueKey('billing_admin');
    const cookie = cookieOf((await enter('read_only', admin.key)).headers['set-cookie']);
    const other = await p.createOrganization('Shelbyville');
    await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: bearer(other.apiKey), payload: { planId: 'city', seats: 1 } });
    await p.settle();
    const [theirs] = (await p.app.inject({ url: '/v1/invoices', headers: bearer(other.apiKey) })).json().data as { id: string }[];
    expect((await p.app.inject({ url: `/v1/invoices/${theirs!.id}`, headers: { cookie } })).statusCode).toBe(404);
    expect((await p.app.inject({ url: '/v1/invoices', headers: { cookie } })).json().data).toEqual([]);
    expect((await p.app.inject({ method: 'DELETE', url: `/v1/api-keys/${admin.id}`, headers: bearer(owner.apiKey) })).statusCode).toBe(204);
    const after = await p.app.inject({ url: '/v1/portal/me', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json().detail).toMatch(/revoked/);
  });

  it('count against their key\'s rate limit from any address, judged on the platform\'s clock', async () => {
    clock = new Date('2025-01-01T12:00:00Z'); // sessions long expired by the wall clock, valid by the platform's
    const [first, second] = [cookieOf((await enter('read_only')).headers['set-cookie']), cookieOf((await enter('read_only')).headers['set-cookie'])];
    const remaining = async (cookie: string, remoteAddress: string) => {
      const res = await p.app.inject({ url: '/v1/portal/me', headers: { cookie }, remoteAddress });
      expect(res.statusCode).toBe(200);
      return Number(res.headers['ratelimit-remaining']);
    };
    const before = await remaining(first, '10.0.0.1');
    expect(await remaining(second, '10.0.0.2')).toBe(before - 1);
    // The key itself draws on the same bucket as the sessions it opened: a session does not double its limit.
    const keyed = await p.app.inject({ url: '/v1/portal/me', headers: bearer(owner.apiKey), remoteAddress: '10.0.0.3' });
    expect(Number(keyed.headers['ratelimit-remaining'])).toBe(before - 2);
  });

  it('open a session from a link once: the same link again opens nothing', async () => {
    const link = new URL((await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: bearer(owner.apiKey), payload: {} })).json().url);
    // Opening it (a mail scanner fetches every link first) uses nothing: the page asks, its button uses the link.
    for (let i = 0; i < 3; i++) {
      const page = await p.app.inject({ url: `${link.pathname}${link.search}` });
      expect([page.statusCode, page.headers['set-cookie']]).toEqual([200, undefined]);
      expect(page.body).toMatch(/<form method="post" action="\/portal\/enter">/);
      expect(page.headers['referrer-policy']).toBe('no-referrer');
    }
    // Posted from another site (login CSRF): refused, the link still unused.
    const forged = await p.app.inject({ method: 'POST', url: '/portal/enter', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' }, payload: new URLSearchParams({ token: link.searchParams.get('token')! }).toString() });
    expect([forged.statusCode, forged.headers['set-cookie']]).toEqual([403, undefined]);
    const [first, again] = [await useLink(link), await useLink(link)];
    expect([first.statusCode, first.headers.location]).toEqual([303, '/']);
    // Once used, opening it again says so instead of offering the button.
    expect((await p.app.inject({ url: `${link.pathname}${link.search}` })).headers.location).toBe('/#/sign-in?link=expired');
    expect([again.statusCode, again.headers.location, again.headers['set-cookie']]).toEqual([303, '/#/sign-in?link=expired', undefined]);
    // Used concurrently: one session, never two.
    const link2 = new URL((await p.app.inject({ method: 'POST', url: '/v1/portal-sessions', headers: bearer(owner.apiKey), payload: {} })).json().url);
    const racing = await Promise.all(Array.from({ length: 5 }, () => useLink(link2)));
    expect(racing.filter((r) => r.headers.location === '/')).toHaveLength(1);
  });

  it('end on the server when signed out: the cookie, copied before, opens nothing after', async () => {
    const cookie = cookieOf((await enter('billing_admin')).headers['set-cookie']);
    const other = cookieOf((await enter('billing_admin')).headers['set-cookie']);
    expect((await p.app.inject({ url: '/v1/portal/me', headers: { cookie } })).statusCode).toBe(200);
    expect((await p.app.inject({ method: 'POST', url: '/portal/sign-out', headers: { cookie } })).statusCode).toBe(204);
    expect((await p.app.inject({ method: 'POST', url: '/portal/sign-out', headers: { cookie } })).statusCode).toBe(204);
    const after = await p.app.inject({ url: '/v1/portal/me', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json().detail).toMatch(/signed out/);
    // Another session of the same key goes on.
    expect((await p.app.inject({ url: '/v1/portal/me', headers: { cookie: other } })).statusCode).toBe(200);
  });

  it('sign in with an API key sent once from the dashboard, and sign out', async () => {
    expect((await p.app.inject({ method: 'POST', url: '/portal/sign-in', payload: { apiKey: owner.apiKey } })).statusCode).toBe(403);
    expect((await p.app.inject({ method: 'POST', url: '/portal/sign-in', headers: { 'x-curbmap-portal': '1' }, payload: { apiKey: 'cmk_nope' } })).statusCode).toBe(401);
    // Guessing keys at the sign-in costs the address, as on the API.
    const guesser = { 'x-curbmap-portal': '1' };
    const from = { remoteAddress: '203.0.113.9' };
    const codes: number[] = [];
    for (let i = 0; i < 1001; i++) codes.push((await p.app.inject({ method: 'POST', url: '/portal/sign-in', headers: guesser, payload: { apiKey: `cmk_guess_${i}` }, ...from })).statusCode);
    expect(codes.at(-1)).toBe(429);
    const ok = await p.app.inject({ method: 'POST', url: '/portal/sign-in', headers: { 'x-curbmap-portal': '1' }, payload: { apiKey: owner.apiKey } });
    expect(ok.statusCode).toBe(204);
    const cookie = cookieOf(ok.headers['set-cookie']);
    expect(cookie).not.toContain(owner.apiKey);
    expect((await p.app.inject({ url: '/v1/portal/me', headers: { cookie } })).json().role).toBe('owner');
    const out = await p.app.inject({ method: 'POST', url: '/portal/sign-out' });
    expect(String(out.headers['set-cookie'])).toMatch(/^curbmap_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict/);
  });

  it('serve the dashboard page with a CSP under which no inline script runs', async () => {
    const page = await p.app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self';/);
    expect(page.body).not.toMatch(/<script>(?!<\/script>)/);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(page.body)![1]!;
    const js = await p.app.inject({ url: asset });
    expect([js.statusCode, js.headers['content-type'], js.headers['cache-control']]).toEqual([200, 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable']);
    expect((await p.app.inject({ url: '/assets/..%2Fpackage.json' })).statusCode).toBe(400);
  });

  it('behind a TLS proxy (TRUST_PROXY): Secure cookies and per-client limits from X-Forwarded-*; without it those headers are ignored', async () => {
    const proxied = await startTestPlatform({ now: () => clock, trustProxy: ['127.0.0.1'], unauthenticatedPerMinute: 3 });
    try {
      const org = await proxied.createOrganization('Shelbyville');
      const via = (client: string) => ({ 'x-forwarded-for': client, 'x-forwarded-proto': 'https', 'x-curbmap-portal': '1' });
      const signedIn = await proxied.app.inject({ method: 'POST', url: '/portal/sign-in', headers: via('198.51.100.20'), payload: { apiKey: org.apiKey } });
      expect(String(signedIn.headers['set-cookie'])).toMatch(/; Secure$/);
      // One client behind the proxy guessing keys is limited; another client behind the same proxy is not.
      for (let i = 0; i < 4; i++) await proxied.app.inject({ url: '/v1/organization', headers: { ...via('198.51.100.20'), ...bearer(`cmk_guess_${i}`) } });
      expect((await proxied.app.inject({ url: '/v1/organization', headers: { ...via('198.51.100.20'), ...bearer('cmk_guess_x') } })).statusCode).toBe(429);
      expect((await proxied.app.inject({ url: '/v1/organization', headers: { ...via('198.51.100.21'), ...bearer('cmk_guess_y') } })).statusCode).toBe(401);
    } finally {
      await proxied.close();
    }
    // Not behind a proxy: a client cannot claim another address or https by a header.
    const direct = await p.app.inject({ method: 'POST', url: '/portal/sign-in', headers: { 'x-forwarded-proto': 'https', 'x-curbmap-portal': '1' }, payload: { apiKey: owner.apiKey } });
    expect(String(direct.headers['set-cookie'])).not.toMatch(/Secure/);
  });
});
