import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestPlatform, type TestPlatform } from '@curbmap/gateway/testing';

let p: TestPlatform;
beforeEach(async () => {
  p = await startTestPlatform();
});
afterEach(() => p.close());

const zone = (i: number) => JSON.stringify({ curb_zone_id: `b2000000-0000-4000-8000-${String(i).padStart(12, '0')}`, geometry: { type: 'Polygon', coordinates: [[[-87.63, 41.88], [-87.6298, 41.88], [-87.6298, 41.8801], [-87.63, 41.88]]] }, curb_policy_ids: [], published_date: 1700000000000, last_updated_date: 1700000000000, start_date: 1700000000000 });

describe('a curb import whose client goes away mid-upload', () => {
  it('ends: nothing is imported, its staging files are removed, and the next import works', async () => {
    const org = await p.createOrganization();
    const headers = { authorization: `Bearer ${org.apiKey}` };
    const project = (await p.app.inject({ method: 'POST', url: '/v1/projects', headers, payload: { name: 'Downtown' } })).json().id as string;
    const address = await p.app.listen({ port: 0, host: '127.0.0.1' });
    const staging = join(p.dataDir, 'staging');
    const imports = () => (existsSync(staging) ? readdirSync(staging).filter((f) => f.startsWith('import-')) : []);

    // Half a document, then the connection drops.
    await new Promise<void>((resolve) => {
      const req = request(new URL(`/v1/projects/${project}/curbs/import`, address), { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
      req.on('error', () => resolve());
      req.on('response', (res) => {
        res.resume();
        resolve();
      });
      req.write(`{"version":"1.1","time_zone":"America/Chicago","last_updated":1700000000000,"currency":"USD","data":{"zones":[${Array.from({ length: 200 }, (_, i) => zone(i)).join(',')}`);
      const started = Date.now();
      const drop = setInterval(() => {
        if (imports().length > 0 || Date.now() - started > 2000) {
          clearInterval(drop);
          req.destroy();
        }
      }, 10);
    });
    await expect.poll(imports, { timeout: 5000, interval: 50 }).toEqual([]);
    const zoneUrl = `/v1/projects/${project}/curb-zones/b2000000-0000-4000-8000-000000000001`;
    expect((await p.app.inject({ url: zoneUrl, headers })).statusCode).toBe(404);

    const whole = { version: '1.1', time_zone: 'America/Chicago', last_updated: 1700000000000, currency: 'USD', data: { zones: [JSON.parse(zone(1))] } };
    const ok = await p.app.inject({ method: 'POST', url: `/v1/projects/${project}/curbs/import`, headers: { ...headers, 'content-type': 'application/json' }, payload: JSON.stringify(whole) });
    expect(ok.statusCode, ok.body).toBe(201);
    await p.settle();
    expect((await p.app.inject({ url: zoneUrl, headers })).statusCode).toBe(200);
  });
});
