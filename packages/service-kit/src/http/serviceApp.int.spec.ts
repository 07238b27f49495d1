import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { ServiceContext } from '../serviceModule.ts';
import { bodyDigest, signPrincipal } from './internalAuth.ts';
import { buildServiceApp } from './serviceApp.ts';

const secret = 'a-shared-secret-of-at-least-32-characters';
let app: FastifyInstance;
const received: unknown[] = [];

beforeAll(async () => {
  app = await buildServiceApp({
    module: { name: 'test', contracts: [], projections: [], routes: async (scope) => void scope.post('/v1/things', async (request) => (received.push(request.body), { ok: true })) },
    ctx: {} as ServiceContext,
    logger: pino({ level: 'silent' }),
    internalSecret: secret,
    projections: [],
    ready: async () => true,
  });
});
afterAll(() => app.close());

const signed = (body: string, nonce: string, digest: string | null = bodyDigest(body)) => ({
  'content-type': 'application/json',
  ...signPrincipal({ auth: { kind: 'key', organizationId: 'org-1', keyId: 'key-1', role: 'member', projectId: null }, commandId: 'c-1', at: Date.now(), nonce, body: digest }, 'POST', '/v1/things', secret),
});

describe('a service takes what the gateway forwards', () => {
  it('with the body it signed, once', async () => {
    const body = JSON.stringify({ amount: 100 });
    const headers = signed(body, 'nonce-aaaaaaaaaaaaaaaa');
    expect((await app.inject({ method: 'POST', url: '/v1/things', headers, payload: body })).statusCode).toBe(200);
    // The same request sent again (captured on the way): refused.
    const replayed = await app.inject({ method: 'POST', url: '/v1/things', headers, payload: body });
    expect([replayed.statusCode, replayed.json().detail]).toEqual([401, 'the forwarded request was already received (replayed)']);
    expect(received).toEqual([{ amount: 100 }]);
  });

  it('never with another body than the one signed, nor without one', async () => {
    const changed = await app.inject({ method: 'POST', url: '/v1/things', headers: signed(JSON.stringify({ amount: 100 }), 'nonce-bbbbbbbbbbbbbbbb'), payload: JSON.stringify({ amount: 100_000 }) });
    expect([changed.statusCode, changed.json().detail]).toEqual([401, 'the forwarded body is not the one the gateway signed']);
    // Signed without a body, a body added on the way is refused too.
    const added = await app.inject({ method: 'POST', url: '/v1/things', headers: signed('', 'nonce-dddddddddddddddd', null), payload: JSON.stringify({ amount: 5 }) });
    expect([added.statusCode, added.json().detail]).toEqual([401, 'the forwarded body is not the one the gateway signed']);
    const { 'content-type': _, ...noType } = signed(JSON.stringify({ amount: 1 }), 'nonce-cccccccccccccccc');
    expect((await app.inject({ method: 'POST', url: '/v1/things', headers: noType })).statusCode).toBe(401);
    expect(received).toHaveLength(1);
  });
});
