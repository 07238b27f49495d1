import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredEvent } from '@curbmap/eventsourcing';
import type { ServiceModule } from '@curbmap/service-kit';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** A service with read models and a process that misbehave on demand. */
function misbehavingService() {
  const control = { holdOrganizations: false, poisonFixed: false, releaseOrganizations: () => {}, releaseStalled: () => {} };
  const stalled = new Promise<void>((r) => (control.releaseStalled = r));
  let released: Promise<void> = Promise.resolve();
  const hold = () => {
    released = new Promise((r) => (control.releaseOrganizations = r));
  };
  const module: ServiceModule = {
    name: 'misbehaving',
    contracts: [
      { type: 'test.stalled', schemaVersion: 1, schema: { type: 'object' } },
      { type: 'test.poison', schemaVersion: 1, schema: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } },
    ],
    projections: [
      // Does not finish its event until the test ends: a read model of another category must not hold commands back.
      { name: 'test.stalled.v1', filter: { categories: ['stalled'] }, collections: ['test_stalled'], apply: () => stalled },
      {
        name: 'test.organizations.v1',
        filter: { categories: ['organization'] },
        collections: ['test_organizations'],
        async apply(event: StoredEvent) {
          if (control.holdOrganizations && event.type === 'tenancy.project.created') await released;
        },
      },
    ],
    async start(ctx) {
      const sub = ctx.subscriptions.subscribe('test.poison-process.v1', { types: ['test.poison'] }, async (batch) => {
        for (const e of batch) if ((e.data as { n: number }).n === 13 && !control.poisonFixed) throw new Error('cannot handle 13');
      }, { retry: { maxAttempts: 3, baseDelayMs: 5 } });
      return { stop: () => sub.stop() };
    },
  };
  return { module, control, hold };
}

let p: TestPlatform;
let service: ReturnType<typeof misbehavingService>;
beforeEach(async () => {
  service = misbehavingService();
  p = await startTestPlatform({ extraModules: [service.module], readYourWritesTimeoutMs: 300 });
});
afterEach(async () => {
  service.control.releaseStalled();
  service.control.releaseOrganizations();
  await p.close();
});

const event = (type: string, data: object) => ({ id: randomUUID(), type, data, occurredAt: new Date().toISOString(), organizationId: '00000000-0000-4000-8000-000000000001' });

describe('read-your-writes', () => {
  it('waits only for read models of the written category, and answers 202 with a Location when they lag', async () => {
    await p.ctx.store.append('stalled-1', [event('test.stalled', {})], { expectedVersion: 'no_stream' });
    const org = await p.createOrganization();
    const headers = { authorization: `Bearer ${org.apiKey}` };

    const started = Date.now();
    const fast = await p.app.inject({ method: 'POST', url: '/v1/projects', headers, payload: { name: 'Uptown' } });
    expect(fast.statusCode, fast.body).toBe(201);
    expect(Date.now() - started).toBeLessThan(300);

    service.hold();
    service.control.holdOrganizations = true;
    const lagging = await p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...headers, 'idempotency-key': 'k-1' }, payload: { name: 'Downtown' } });
    expect(lagging.statusCode, lagging.body).toBe(202);
    // The answer names the new project (its id, its Location): the client need not guess which one it made.
    const created = lagging.json() as { id: string; name: string };
    expect(created).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'Downtown' });
    expect([lagging.headers['location'], lagging.headers['retry-after']]).toEqual([`/v1/projects/${created.id}`, '1']);
    // The command did commit: it shows once the read model catches up, and a retry answers with the resource.
    service.control.releaseOrganizations();
    service.control.holdOrganizations = false;
    const retried = await p.app.inject({ method: 'POST', url: '/v1/projects', headers: { ...headers, 'idempotency-key': 'k-1' }, payload: { name: 'Downtown' } });
    expect(retried.statusCode, retried.body).toBe(201);
    expect(retried.json().id).toBe(created.id);
    const names = (await p.app.inject({ url: '/v1/projects', headers })).json().data.map((x: { name: string }) => x.name);
    expect(names.filter((n: string) => n === 'Downtown')).toHaveLength(1);
  });
});

describe('poison events', () => {
  it('parks an event that keeps failing, counts it in /metrics, goes on, and lets the operator retry it', async () => {
    await p.ctx.store.append('poison-1', [event('test.poison', { n: 13 }), event('test.poison', { n: 14 })], { expectedVersion: 'no_stream' });
    await p.settle();
    const list = await p.app.inject({ url: '/v1/admin/dead-letters', headers: admin });
    expect(list.statusCode, list.body).toBe(200);
    const [parked, ...others] = list.json().data;
    expect(others).toEqual([]);
    expect(parked).toMatchObject({ subscription: 'test.poison-process.v1', eventType: 'test.poison', streamId: 'poison-1', error: 'cannot handle 13', attempts: 3, status: 'parked' });
    const process = p.ctx.subscriptions.list().find((s) => s.name === 'test.poison-process.v1')!;
    expect(process.position()).toBe(await p.ctx.store.headPosition());

    const metrics = await p.app.inject({ url: '/metrics', headers: admin });
    expect(metrics.body).toContain('curbmap_dead_letters_parked{subscription="test.poison-process.v1"} 1');
    expect((await p.app.inject({ url: '/v1/admin/dead-letters', headers: { authorization: 'Bearer cmk_nope' } })).statusCode).toBe(401);

    const again = await p.app.inject({ method: 'POST', url: `/v1/admin/dead-letters/${encodeURIComponent(parked.id)}/retry`, headers: admin });
    expect(again.statusCode).toBe(409);
    expect(again.json().detail).toContain('cannot handle 13');
    service.control.poisonFixed = true;
    const fixed = await p.app.inject({ method: 'POST', url: `/v1/admin/dead-letters/${encodeURIComponent(parked.id)}/retry`, headers: admin });
    expect(fixed.statusCode, fixed.body).toBe(200);
    expect(fixed.json()).toMatchObject({ status: 'resolved', attempts: 4 });
    expect((await p.app.inject({ url: '/v1/admin/dead-letters', headers: admin })).json().data).toEqual([]);
    expect((await p.app.inject({ url: '/metrics', headers: admin })).body).toContain('curbmap_dead_letters_parked{subscription="test.poison-process.v1"} 0');
  });
});
