import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { ServiceModule } from '@curbmap/service-kit';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform();
});
afterEach(() => p.close());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

function expectProblem(res: LightMyRequestResponse, status: number, detail?: RegExp) {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = res.json();
  expect(body).toMatchObject({ status, type: expect.stringContaining('/problems/'), title: expect.any(String), requestId: expect.any(String) });
  if (detail) expect(body.detail).toMatch(detail);
  return body;
}

async function issueKey(owner: string, payload: Record<string, unknown>) {
  const res = await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(owner), payload });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { key: string; apiKey: { id: string } };
}

describe('organizations', () => {
  it('creates an organization with the admin token and returns a working owner key', async () => {
    const res = await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: bearer(TEST_ADMIN_TOKEN), payload: { name: 'Metro Transit', billingEmail: 'ap@metro.example' } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.apiKey).toMatch(/^cmk_[0-9a-f]{8}_[\w-]{43}$/);
    expect(body.organization).toMatchObject({ id: body.id, name: 'Metro Transit', currency: 'USD', timeZone: 'UTC' });
    const me = await p.app.inject({ url: '/v1/organization', headers: bearer(body.apiKey) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ id: body.id, billingEmail: 'ap@metro.example' });
  });

  it('refuses a missing or wrong admin token with 401 and writes nothing', async () => {
    const payload = { name: 'x', billingEmail: 'a@b.example' };
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/organizations', payload }), 401, /API key is required/);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: bearer('nope-nope'), payload }), 401, /admin token/);
    const { apiKey } = await p.createOrganization();
    const before = await p.eventCount();
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: bearer(apiKey), payload }), 401);
    expect(await p.eventCount()).toBe(before);
  });

  it('answers an invalid body with 400 listing every ajv error, writing nothing', async () => {
    // A fresh platform holds only the plan catalogue billing seeded at its first start.
    const before = await p.eventCount();
    const res = await p.app.inject({
      method: 'POST',
      url: '/v1/organizations',
      headers: bearer(TEST_ADMIN_TOKEN),
      payload: { name: '', currency: 'XXXX', timeZone: 'Mars/Olympus', extra: 1 },
    });
    const body = expectProblem(res, 400, /invalid/);
    const paths = body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body/billingEmail', 'body/name', 'body/currency', 'body/timeZone', 'body/extra']));
    expect(await p.eventCount()).toBe(before);
  });

  it('lands a retried Idempotency-Key on the same organization, never showing the key twice, and refuses the key with another body', async () => {
    const send = (name: string) =>
      p.app.inject({ method: 'POST', url: '/v1/organizations', headers: { ...bearer(TEST_ADMIN_TOKEN), 'idempotency-key': 'create-metro-1' }, payload: { name, billingEmail: 'ap@metro.example' } });
    const before = await p.eventCount();
    const first = await send('Metro');
    const again = await send('Metro');
    expect(again.statusCode).toBe(201);
    expect(again.json()).toMatchObject({ id: first.json().id, apiKey: null, organization: first.json().organization });
    expect(first.json().apiKey).toMatch(/^cmk_/);
    expect(await p.eventCount()).toBe(before + 2);
    expectProblem(await send('Other name'), 422, /different request/);
  });

  it('replays a stored answer to an Idempotency-Key retry', async () => {
    const { apiKey } = await p.createOrganization();
    const send = () => p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...bearer(apiKey), 'idempotency-key': 'project-1' }, payload: { name: 'Harbour' } });
    const first = await send();
    const again = await send();
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect((await p.app.inject({ url: '/v1/projects', headers: bearer(apiKey) })).json().data).toHaveLength(1);
  });
});

describe('a secret shown once, while a read model lags', () => {
  it('is in the 202 answer of a created organization or an issued key, and so is a new project\'s id: committed, never lost with the answer', async () => {
    // A read model of organizations that holds its events until released (another service's, far behind).
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    const lagging: ServiceModule = { name: 'lagging', contracts: [], projections: [{ name: 'test.organizations-lagging.v1', filter: { categories: ['organization'] }, collections: ['test_orgs'], apply: () => held }] };
    const slow = await startTestPlatform({ extraModules: [lagging], readYourWritesTimeoutMs: 200 });
    try {
      const created = await slow.app.inject({ method: 'POST', url: '/v1/organizations', headers: bearer(TEST_ADMIN_TOKEN), payload: { name: 'Metro Transit', billingEmail: 'ap@metro.example' } });
      expect([created.statusCode, created.headers['retry-after']], created.body).toEqual([202, '1']);
      const { id, apiKey } = created.json() as { id: string; apiKey: string };
      expect(apiKey).toMatch(/^cmk_/);
      // The gateway's own read models have it: the key works.
      expect((await slow.app.inject({ url: '/v1/organization', headers: bearer(apiKey) })).json().id).toBe(id);
      const issued = await slow.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(apiKey), payload: { name: 'field', role: 'member' } });
      expect(issued.statusCode, issued.body).toBe(202);
      expect((issued.json() as { key: string }).key).toMatch(/^cmk_/);
      expect((await slow.app.inject({ url: '/v1/projects', headers: bearer(issued.json().key) })).statusCode).toBe(200);
      // A new project's id too (a client could not tell which it was among several of one name).
      const project = await slow.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(apiKey), payload: { name: 'Harbour' } });
      expect([project.statusCode, project.headers.location], project.body).toEqual([202, `/v1/projects/${project.json().id}`]);
      expect(project.json()).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'Harbour' });
    } finally {
      release();
      await slow.close();
    }
  });
});

describe('Idempotency-Key records', () => {
  it('are purged after 24 hours, after which the key can be used again', async () => {
    let clock = new Date('2027-01-01T00:00:00Z');
    const timed = await startTestPlatform({ now: () => clock });
    try {
      const { apiKey } = await timed.createOrganization();
      const send = (name: string) => timed.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...bearer(apiKey), 'idempotency-key': 'daily-project' }, payload: { name } });
      expect((await send('Monday')).statusCode).toBe(201);
      expect((await send('Tuesday')).statusCode).toBe(422);
      clock = new Date('2027-01-01T23:00:00Z');
      expect(await timed.app.purgeIdempotencyRecords()).toBe(0);
      clock = new Date('2027-01-02T00:00:01Z');
      expect(await timed.app.purgeIdempotencyRecords()).toBeGreaterThanOrEqual(1);
      const tuesday = await send('Tuesday');
      expect(tuesday.statusCode).toBe(201);
      expect(tuesday.json().name).toBe('Tuesday');
      expect((await timed.app.inject({ url: '/v1/projects', headers: bearer(apiKey) })).json().data).toHaveLength(2);
    } finally {
      await timed.close();
    }
  });
});

describe('API keys and roles', () => {
  it('rejects unknown, malformed and revoked keys with 401; revocation takes effect at once', async () => {
    const { apiKey: owner } = await p.createOrganization();
    expectProblem(await p.app.inject({ url: '/v1/organization' }), 401);
    expectProblem(await p.app.inject({ url: '/v1/organization', headers: { authorization: owner } }), 401);
    expectProblem(await p.app.inject({ url: '/v1/organization', headers: bearer('cmk_00000000_unknown') }), 401, /unknown API key/);
    const member = await issueKey(owner, { name: 'ci', role: 'member' });
    expect((await p.app.inject({ url: '/v1/organization', headers: bearer(member.key) })).statusCode).toBe(200);
    const del = await p.app.inject({ method: 'DELETE', url: `/v1/api-keys/${member.apiKey.id}`, headers: bearer(owner) });
    expect(del.statusCode).toBe(204);
    expectProblem(await p.app.inject({ url: '/v1/organization', headers: bearer(member.key) }), 401, /revoked/);
  });

  it('lists keys without secrets', async () => {
    const { apiKey: owner } = await p.createOrganization();
    await issueKey(owner, { name: 'reporting', role: 'read_only' });
    const list = await p.app.inject({ url: '/v1/api-keys', headers: bearer(owner) });
    expect(list.statusCode).toBe(200);
    const data = list.json().data as Record<string, unknown>[];
    expect(data.map((k) => [k['name'], k['role']])).toEqual([
      ['owner', 'owner'],
      ['reporting', 'read_only'],
    ]);
    expect(list.body).not.toContain(owner.slice(14));
    for (const k of data) expect(Object.keys(k).sort()).toEqual(['createdAt', 'id', 'name', 'prefix', 'projectId', 'revokedAt', 'role']);
  });

  it('answers 403 when the role is too low, writing nothing', async () => {
    const { apiKey: owner } = await p.createOrganization();
    const reader = await issueKey(owner, { name: 'r', role: 'read_only' });
    const member = await issueKey(owner, { name: 'm', role: 'member' });
    const before = await p.eventCount();
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(reader.key), payload: { name: 'x' } }), 403, /member role/);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(member.key), payload: { name: 'x', role: 'owner' } }), 403, /owner role/);
    expectProblem(await p.app.inject({ url: '/v1/api-keys', headers: bearer(member.key) }), 403);
    expect(await p.eventCount()).toBe(before);
  });
});

describe('projects and tenancy scoping', () => {
  it('creates, lists and reads projects; duplicates are refused with 409', async () => {
    const { apiKey } = await p.createOrganization();
    const created = await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(apiKey), payload: { name: 'Downtown' } });
    expect(created.statusCode).toBe(201);
    const project = created.json();
    expect(created.headers['location']).toBe(`/v1/projects/${project.id}`);
    expect((await p.app.inject({ url: `/v1/projects/${project.id}`, headers: bearer(apiKey) })).json()).toEqual(project);
    expect((await p.app.inject({ url: '/v1/projects', headers: bearer(apiKey) })).json().data).toEqual([project]);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(apiKey), payload: { name: 'downtown' } }), 409, /already exists/);
  });

  it("answers 404 for another organization's project and key, and 400 for a malformed id", async () => {
    const a = await p.createOrganization('A');
    const b = await p.createOrganization('B');
    const project = (await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(a.apiKey), payload: { name: 'A1' } })).json();
    const key = await issueKey(a.apiKey, { name: 'k', role: 'member' });
    const before = await p.eventCount();
    expectProblem(await p.app.inject({ url: `/v1/projects/${project.id}`, headers: bearer(b.apiKey) }), 404, /project not found/);
    expectProblem(await p.app.inject({ method: 'DELETE', url: `/v1/api-keys/${key.apiKey.id}`, headers: bearer(b.apiKey) }), 404);
    expect((await p.app.inject({ url: '/v1/projects', headers: bearer(b.apiKey) })).json().data).toEqual([]);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: bearer(b.apiKey), payload: { name: 'x', role: 'member', projectId: project.id } }), 404);
    expectProblem(await p.app.inject({ url: '/v1/projects/not-a-uuid', headers: bearer(a.apiKey) }), 400, /params/);
    expect(await p.eventCount()).toBe(before);
  });

  it('confines a project-restricted key to its project', async () => {
    const { apiKey: owner } = await p.createOrganization();
    const mk = async (name: string) => (await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(owner), payload: { name } })).json();
    const p1 = await mk('one');
    const p2 = await mk('two');
    const scoped = await issueKey(owner, { name: 'p1 only', role: 'member', projectId: p1.id });
    expect((await p.app.inject({ url: '/v1/projects', headers: bearer(scoped.key) })).json().data.map((x: { id: string }) => x.id)).toEqual([p1.id]);
    expect((await p.app.inject({ url: `/v1/projects/${p1.id}`, headers: bearer(scoped.key) })).statusCode).toBe(200);
    expectProblem(await p.app.inject({ url: `/v1/projects/${p2.id}`, headers: bearer(scoped.key) }), 404);
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/projects', headers: bearer(scoped.key), payload: { name: 'three' } }), 403, /restricted/);
  });
});

describe('gateway operations', () => {
  it('serves health, readiness, metrics and an OpenAPI document whose every route has schemas', async () => {
    expect((await p.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    await Promise.all(p.projections.map((s) => s.caughtUp));
    expect((await p.app.inject({ url: '/readyz' })).json()).toMatchObject({ status: 'ready' });
    expect((await p.app.inject({ url: '/metrics' })).statusCode).toBe(401);
    const metrics = await p.app.inject({ url: '/metrics', headers: bearer(TEST_ADMIN_TOKEN) });
    expect(metrics.body).toContain('http_request_duration_seconds');
    expect(metrics.body).toContain('curbmap_subscription_lag_events{subscription="billing.processes.v1"} 0');
    expect(metrics.body).toContain('curbmap_subscription_lag_events{subscription="gateway.tenancy.v1"} 0');
    expect(metrics.body).toContain('curbmap_dead_letters_parked{subscription="invoice.invoicing-process.v1"} 0');
    const doc = (await p.app.inject({ url: '/docs/json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const path of ['/v1/organizations', '/v1/organization', '/v1/projects', '/v1/projects/{id}', '/v1/api-keys', '/v1/api-keys/{id}']) {
      expect(doc.paths[path], path).toBeDefined();
      for (const [method, op] of Object.entries(doc.paths[path] as Record<string, { responses: Record<string, unknown> }>)) {
        expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(1);
      }
    }
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { summary?: string; responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.summary, `${method} ${path} has a summary`).toBeTruthy();
        // A download's success is its redirect to the signed link.
        expect(Object.keys(op.responses).some((c) => /^[23]/.test(c)), `${method} ${path} documents its success`).toBe(true);
      }
    }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/subscription', '/v1/admin/invoices/{id}/payments', '/v1/invoices/{id}/remittance-advice', '/v1/invoices']));
    expect((await p.app.inject({ url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('answers unknown routes and unsupported bodies with problems, and echoes the request id', async () => {
    const res = await p.app.inject({ url: '/v1/nothing-here', headers: { 'x-request-id': 'req-123' } });
    expectProblem(res, 404);
    expect(res.headers['x-request-id']).toBe('req-123');
    expectProblem(await p.app.inject({ method: 'POST', url: '/v1/organizations', headers: { ...bearer(TEST_ADMIN_TOKEN), 'content-type': 'text/csv' }, payload: 'a,b' }), 415);
  });
});

describe('rate limit', () => {
  it('limits requests per key with a 429 problem', async () => {
    const limited = await startTestPlatform({ rateLimitPerMinute: 3 });
    try {
      const { apiKey } = await limited.createOrganization();
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) codes.push((await limited.app.inject({ url: '/v1/organization', headers: bearer(apiKey) })).statusCode);
      expect(codes).toEqual([200, 200, 200, 429]);
      const refused = await limited.app.inject({ url: '/v1/organization', headers: bearer(apiKey) });
      expectProblem(refused, 429, /rate limit/);
      // The IETF draft's RateLimit-* fields, and Retry-After: a client knows when to retry (always safe).
      expect(refused.headers).toMatchObject({ 'ratelimit-limit': '3', 'ratelimit-remaining': '0', 'retry-after': expect.stringMatching(/^\d+$/) });
      expect(Number(refused.headers['ratelimit-reset'])).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
