import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServiceApp, installProblemErrors, type ServiceContext, type ServiceModule } from '@curbmap/service-kit';
import { forwardedRoutes, postInternal } from './forwarding.ts';
import { RemoteService } from './remoteService.ts';

const secret = 'a-shared-secret-of-at-least-32-characters';
const module = { name: 'echo', contracts: [], projections: [] } as unknown as ServiceModule;

/** One process of the service "echo": its route answers which process took the request. */
async function startProcess(label: string, port = 0): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildServiceApp({
    module: {
      ...module,
      routes: async (scope) => {
        scope.post('/v1/echo', async (request) => ({ process: label, body: request.body }));
        // A route that takes its body as a stream (as the curb import does).
        scope.register(async (streaming) => {
          streaming.addContentTypeParser('application/x-ndjson', (_request, payload, done) => done(null, payload));
          streaming.post('/v1/import', async (request) => {
            let text = '';
            for await (const chunk of request.body as AsyncIterable<Buffer>) text += chunk.toString('utf8');
            return { process: label, text };
          });
        });
      },
    },
    ctx: { readStore: { get: async () => null } } as unknown as ServiceContext,
    logger: pino({ level: 'silent' }),
    internalSecret: secret,
    projections: [],
    ready: async () => true,
  });
  await app.listen({ port, host: '127.0.0.1' });
  return { app, url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

let a: { app: FastifyInstance; url: string };
let b: { app: FastifyInstance; url: string };
let remote: RemoteService;
let gateway: FastifyInstance;

beforeAll(async () => {
  a = await startProcess('a');
  b = await startProcess('b');
  // No health checks in the background here: each case below shows what the forwarding itself does.
  remote = new RemoteService('echo', [a.url, b.url], { secret, healthIntervalMs: 3_600_000 });
  gateway = Fastify();
  installProblemErrors(gateway);
  await gateway.register(forwardedRoutes({ ...module, routes: async (scope) => void scope.post('/v1/echo', async () => ({})) }, {} as ServiceContext, remote));
});
afterAll(async () => {
  remote.stop();
  await gateway.close();
  await a.app.close();
  await b.app.close();
});

const echo = async (n: number) => {
  const answers: string[] = [];
  for (let i = 0; i < n; i++) {
    const answer = await gateway.inject({ method: 'POST', url: '/v1/echo', payload: { i } });
    expect([answer.statusCode, answer.json().body]).toEqual([200, { i }]);
    answers.push(answer.json().process);
  }
  return answers;
};

describe('a service in several processes (SERVICE_URLS naming it more than once)', () => {
  it('takes requests in each of its processes, in turn', async () => {
    const answers = await echo(6);
    expect(answers.filter((p) => p === 'a')).toHaveLength(3);
    expect(answers.filter((p) => p === 'b')).toHaveLength(3);
  });

  it('loses one without a failed request: what it refuses goes to the other, which takes everything until it is back', async () => {
    const port = Number(new URL(a.url).port);
    await a.app.close();
    expect(await echo(4)).toEqual(['b', 'b', 'b', 'b']);
    expect(remote.processes[0]!.healthy).toBe(false);
    // Started again on the same address: a new instance. The gateway's next health check sees it answer again.
    a = await startProcess('a2', port);
    expect(await remote.check(remote.processes[0]!)).toBe(true);
    expect((await echo(4)).sort()).toEqual(['a2', 'a2', 'b', 'b']);
  });

  it('signs for the process as it is now: one restarted since it was last asked refuses the old signature, and the request goes again', async () => {
    const port = Number(new URL(a.url).port);
    const before = remote.processes[0]!.instance;
    await a.app.close();
    a = await startProcess('a3', port);
    // The gateway still knows the old instance: every request must be answered all the same, once.
    const answers = await echo(4);
    expect(answers.filter((p) => p === 'a3')).toHaveLength(2);
    expect(remote.processes[0]!.instance).not.toBe(before);
    // The gateway's own internal calls too (read-your-writes, dead-letter retries).
    const answer = await postInternal(remote, '/internal/dead-letters/none/retry', { auth: { kind: 'admin' }, timeoutMs: 5_000 });
    expect(answer.status).toBe(404);
  });

  it('never sends a streamed body twice: to a process restarted since it was last asked, the answer is 503 (the client sends it again)', async () => {
    const single = await startProcess('s1');
    const port = Number(new URL(single.url).port);
    const one = new RemoteService('echo', [single.url], { secret, healthIntervalMs: 3_600_000 });
    const front = Fastify();
    installProblemErrors(front);
    await front.register(
      forwardedRoutes(
        {
          ...module,
          routes: async (scope) => {
            scope.addContentTypeParser('application/x-ndjson', (_request, payload, done) => done(null, { stream: payload }));
            scope.post('/v1/import', async () => ({}));
          },
        },
        {} as ServiceContext,
        one,
      ),
    );
    await front.listen({ port: 0, host: '127.0.0.1' });
    let restarted: { app: FastifyInstance; url: string } | null = null;
    try {
      const importing = (text: string) => fetch(`http://127.0.0.1:${(front.server.address() as { port: number }).port}/v1/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: text });
      const first = await importing('{"a":1}\n{"b":2}\n');
      expect(await first.json()).toEqual({ process: 's1', text: '{"a":1}\n{"b":2}\n' });
      await single.app.close();
      restarted = await startProcess('s2', port);
      // Signed for the old instance and refused: the part of the body read on the way is gone, so no second try.
      const refused = await importing('{"c":3}\n'.repeat(50_000));
      expect([refused.status, refused.headers.get('retry-after')]).toEqual([503, '1']);
      const again = await importing('{"c":3}\n');
      expect(await again.json()).toEqual({ process: 's2', text: '{"c":3}\n' });
    } finally {
      one.stop();
      await front.close();
      await restarted?.app.close();
    }
  });

  it('answers 503 with Retry-After only when no process answers', async () => {
    await a.app.close();
    await b.app.close();
    const answer = await gateway.inject({ method: 'POST', url: '/v1/echo', payload: { i: 0 } });
    expect([answer.statusCode, answer.headers['retry-after'], answer.json().code]).toEqual([503, '1', 'service_unavailable']);
    await expect(postInternal(remote, '/internal/read-your-writes', { auth: null, body: '{}', timeoutMs: 1_000 })).rejects.toThrow(/no process of the echo service/);
  });
});
