import { afterEach, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform | null = null;
afterEach(async () => {
  await p?.close();
  p = null;
});

it('runs an export job again whose run crashed (the store out of reach), instead of leaving it requested until the next start', async () => {
  p = await startTestPlatform();
  const org = await p.createOrganization('Metro');
  const auth = { authorization: `Bearer ${org.apiKey}` };
  // The store fails the runner's first read of the job (a connection cut by a database restart); the request's own
  // read of the stream, before it appends, goes through.
  const store = p.ctx.store;
  const readStream = store.readStream.bind(store);
  let reads = 0;
  let failures = 0;
  store.readStream = ((streamId: string, ...rest: unknown[]) => {
    if (streamId.startsWith('export-') && reads++ === 1) {
      failures += 1;
      throw new Error('Connection terminated unexpectedly');
    }
    return (readStream as (...args: unknown[]) => ReturnType<typeof readStream>)(streamId, ...rest);
  }) as typeof store.readStream;
  const started = await p.app.inject({ method: 'POST', url: '/v1/exports', headers: auth, payload: { dataset: 'zones', format: 'csv' } });
  expect([202, 201], started.body).toContain(started.statusCode);
  const id = started.json().id as string;
  await p.modules.export.runner!.idle();
  await p.settle();
  expect(failures).toBe(1);
  const job = (await p.app.inject({ url: `/v1/exports/${id}`, headers: auth })).json();
  expect(job).toMatchObject({ status: 'completed', manifest: { rows: 0 } });
});
