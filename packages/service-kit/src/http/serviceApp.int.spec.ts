import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { ServiceContext } from '../serviceModule.ts';
import { Readable } from 'node:stream';
import { bodyDigest, FRAMED_BODY, signFrames, signPrincipal } from './internalAuth.ts';
import { buildServiceApp } from './serviceApp.ts';

const secret = 'a-shared-secret-of-at-least-32-characters';
let app: FastifyInstance;
let audience: string;
const received: unknown[] = [];
const imported: string[] = [];

const build = () =>
  buildServiceApp({
    module: {
      name: 'test',
      contracts: [],
      projections: [],
      routes: async (scope) => {
        scope.post('/v1/things', async (request) => (received.push(request.body), { ok: true }));
        // A route that reads its body as a stream (as the curb import does), chunk by chunk.
        scope.register(async (streaming) => {
          streaming.addContentTypeParser('application/x-ndjson', (_request, payload, done) => done(null, payload));
          streaming.post('/v1/imports', async (request) => {
            let text = '';
            for await (const chunk of request.body as AsyncIterable<Buffer>) text += chunk.toString('utf8');
            imported.push(text);
            return { bytes: text.length };
          });
          // A route that answers without reading its body: a refused frame must not go unhandled (and crash).
          streaming.post('/v1/ignored', async () => ({ ok: true }));
        });
      },
    },
    ctx: {} as ServiceContext,
    logger: pino({ level: 'silent' }),
    internalSecret: secret,
    projections: [],
    ready: async () => true,
  });
beforeAll(async () => {
  app = await build();
  audience = (await app.inject({ method: 'GET', url: '/healthz' })).json().instance;
});
afterAll(() => app.close());

const signed = (body: string, nonce: string, digest: string | null = bodyDigest(body)) => ({
  'content-type': 'application/json',
  ...signPrincipal({ auth: { kind: 'key', organizationId: 'org-1', keyId: 'key-1', role: 'member', projectId: null }, commandId: 'c-1', at: Date.now(), nonce, body: digest, audience }, 'POST', '/v1/things', secret),
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

  it('only in the process it was signed for: another process of the service, or this one restarted, refuses it', async () => {
    const body = JSON.stringify({ amount: 7 });
    const headers = signed(body, 'nonce-oooooooooooooooo');
    // The same service started again (a restart, or a second process): a new instance, which cannot know the nonce.
    const other = await build();
    try {
      const instance = (await other.inject({ method: 'GET', url: '/healthz' })).json().instance;
      expect(instance).not.toBe(audience);
      const elsewhere = await other.inject({ method: 'POST', url: '/v1/things', headers, payload: body });
      expect([elsewhere.statusCode, elsewhere.json().code]).toEqual([401, 'wrong_instance']);
    } finally {
      await other.close();
    }
    expect((await app.inject({ method: 'POST', url: '/v1/things', headers, payload: body })).statusCode).toBe(200);
    expect(received.pop()).toEqual({ amount: 7 });
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

  it('a streamed body only in the frames the gateway signed for this request, whole', async () => {
    const headers = (nonce: string) => ({
      'content-type': 'application/x-ndjson',
      ...signPrincipal({ auth: { kind: 'key', organizationId: 'org-1', keyId: 'key-1', role: 'owner', projectId: null }, commandId: 'c-2', at: Date.now(), nonce, body: FRAMED_BODY, audience }, 'POST', '/v1/imports', secret),
    });
    const framed = async (nonce: string, chunks: string[], key = secret) => {
      const bytes: Buffer[] = [];
      for await (const part of Readable.from(chunks.map((c) => Buffer.from(c))).pipe(signFrames(key, nonce))) bytes.push(part as Buffer);
      // One buffer per frame (a stream may hand several at once): 4 bytes of length, 32 of MAC, the bytes.
      const frames: Buffer[] = [];
      for (let all = Buffer.concat(bytes); all.length > 0; ) {
        const size = 36 + all.readUInt32BE(0);
        frames.push(all.subarray(0, size));
        all = all.subarray(size);
      }
      return frames;
    };
    const lines = ['{"zone":1}\n', '{"zone":2}\n', '{"zone":3}\n'];
    // A chunk larger than a frame goes as several.
    const large = `${'x'.repeat(150_000)}\n`;
    const split = await framed('nonce-nnnnnnnnnnnnnnnn', [large]);
    expect(split.map((f) => f.length - 36)).toEqual([65_536, 65_536, 18_929, 0]);
    const big = await app.inject({ method: 'POST', url: '/v1/imports', headers: headers('nonce-nnnnnnnnnnnnnnnn'), payload: Buffer.concat(split) });
    expect([big.statusCode, big.json()]).toEqual([200, { bytes: large.length }]);
    imported.length = 0;
    const good = await framed('nonce-eeeeeeeeeeeeeeee', lines);
    const ok = await app.inject({ method: 'POST', url: '/v1/imports', headers: headers('nonce-eeeeeeeeeeeeeeee'), payload: Buffer.concat(good) });
    expect([ok.statusCode, ok.json()]).toEqual([200, { bytes: lines.join('').length }]);
    expect(imported).toEqual([lines.join('')]);

    const refused = async (nonce: string, parts: Buffer[]) => {
      const res = await app.inject({ method: 'POST', url: '/v1/imports', headers: headers(nonce), payload: Buffer.concat(parts) });
      return [res.statusCode, res.json().detail];
    };
    // A byte changed on the way, a frame dropped, frames reordered, the end cut off, frames of another request
    // or another key, or bytes that are not frames at all: each refused.
    const changed = (await framed('nonce-ffffffffffffffff', lines)).map((b, i) => (i === 1 ? Buffer.concat([b.subarray(0, 36), Buffer.from(b.subarray(36).toString('utf8').replace('2', '9'))]) : b));
    expect(await refused('nonce-ffffffffffffffff', changed)).toEqual([401, 'the forwarded body is not the one the gateway signed']);
    const [a, b, c, end] = await framed('nonce-gggggggggggggggg', lines);
    expect(await refused('nonce-gggggggggggggggg', [a!, c!, end!])).toEqual([401, 'the forwarded body is not the one the gateway signed']);
    const [d, e, f, end2] = await framed('nonce-hhhhhhhhhhhhhhhh', lines);
    expect(await refused('nonce-hhhhhhhhhhhhhhhh', [e!, d!, f!, end2!])).toEqual([401, 'the forwarded body is not the one the gateway signed']);
    expect(await refused('nonce-iiiiiiiiiiiiiiii', (await framed('nonce-iiiiiiiiiiiiiiii', lines)).slice(0, 3))).toEqual([401, 'the forwarded body was cut off before its signed end']);
    expect(await refused('nonce-jjjjjjjjjjjjjjjj', await framed('nonce-eeeeeeeeeeeeeeee', lines))).toEqual([401, 'the forwarded body is not the one the gateway signed']);
    expect(await refused('nonce-kkkkkkkkkkkkkkkk', await framed('nonce-kkkkkkkkkkkkkkkk', lines, 'another-secret-of-at-least-32-characters'))).toEqual([401, 'the forwarded body is not the one the gateway signed']);
    expect(await refused('nonce-llllllllllllllll', [...(await framed('nonce-llllllllllllllll', lines)), Buffer.from(lines[0]!)])).toEqual([401, 'the forwarded body was cut off before its signed end']);
    expect(imported).toHaveLength(1);
    void b;

    // Refused while nobody reads the body: answered, and no error escapes (vitest fails on an unhandled one).
    const ignoredHeaders = { 'content-type': 'application/x-ndjson', ...signPrincipal({ auth: { kind: 'key', organizationId: 'org-1', keyId: 'key-1', role: 'owner', projectId: null }, commandId: 'c-3', at: Date.now(), nonce: 'nonce-mmmmmmmmmmmmmmmm', body: FRAMED_BODY, audience }, 'POST', '/v1/ignored', secret) };
    const ignored = await app.inject({ method: 'POST', url: '/v1/ignored', headers: ignoredHeaders, payload: Buffer.concat(changed) });
    expect(ignored.statusCode).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
  });
});
