import { afterEach, expect, it } from 'vitest';
import type { ServiceModule } from '@curbmap/service-kit';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform | null = null;
let release = () => {};
afterEach(async () => {
  release();
  await p?.close();
});

it('answers an export request whose read model lags with 202 naming the job (id, status, Location), not a bare acknowledgment', async () => {
  // A read model of export jobs that holds its events until released: the jobs read model is waited on alongside.
  const held = new Promise<void>((r) => (release = r));
  const lagging: ServiceModule = { name: 'lagging', contracts: [], projections: [{ name: 'test.exports-lagging.v1', filter: { categories: ['export'] }, collections: ['test_exports'], apply: () => held }] };
  p = await startTestPlatform({ extraModules: [lagging], readYourWritesTimeoutMs: 200 });
  const org = await p.createOrganization('Metro');
  const headers = { authorization: `Bearer ${org.apiKey}`, 'idempotency-key': 'export-lag-1' };

  const started = await p.app.inject({ method: 'POST', url: '/v1/exports', headers, payload: { dataset: 'zones', format: 'csv' } });
  expect(started.statusCode, started.body).toBe(202);
  const job = started.json();
  expect(job).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: expect.stringMatching(/^(requested|running|completed)$/), request: { dataset: 'zones', format: 'csv' } });
  expect(started.headers.location).toBe(`/v1/exports/${job.id}`);

  // The same request again (its key): the same job.
  const again = await p.app.inject({ method: 'POST', url: '/v1/exports', headers, payload: { dataset: 'zones', format: 'csv' } });
  expect(again.json().id).toBe(job.id);
  release();
  await p.settle();
  const read = await p.app.inject({ url: `/v1/exports/${job.id}`, headers: { authorization: headers.authorization } });
  expect(read.statusCode, read.body).toBe(200);
});

it('does not show a project-restricted key the organization-wide export another key started under the same Idempotency-Key', async () => {
  p = await startTestPlatform();
  const org = await p.createOrganization('Metro');
  const owner = { authorization: `Bearer ${org.apiKey}` };
  const project = (await p.app.inject({ method: 'POST', url: '/v1/projects', headers: owner, payload: { name: 'Harbour' } })).json().id as string;
  const restricted = (await p.app.inject({ method: 'POST', url: '/v1/api-keys', headers: owner, payload: { name: 'field team', role: 'owner', projectId: project } })).json().key as string;
  const started = await p.app.inject({ method: 'POST', url: '/v1/exports', headers: { ...owner, 'idempotency-key': 'shared-key' }, payload: { dataset: 'zones', format: 'csv' } });
  expect(started.statusCode, started.body).toBe(202);
  expect(started.json().request.projectId).toBeNull();
  const again = await p.app.inject({ method: 'POST', url: '/v1/exports', headers: { authorization: `Bearer ${restricted}`, 'idempotency-key': 'shared-key' }, payload: { dataset: 'zones', format: 'csv' } });
  expect(again.statusCode, again.body).toBe(409);
  expect(again.headers['content-type']).toMatch(/problem\+json/);
  expect(again.body).not.toContain(started.json().id);
});
