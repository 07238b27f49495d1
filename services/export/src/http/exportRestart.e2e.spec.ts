import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { EventRegistry, exportContracts } from '@curbmap/contracts';
import { SqliteDatabase, SqliteEventStore } from '@curbmap/eventsourcing';
import { startTestPlatform } from '@curbmap/gateway/testing';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('an export interrupted by a killed process starts again after a restart and completes with a whole artifact whose checksum matches its manifest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-export-restart-'));
  dirs.push(dir);
  const first = await startTestPlatform({ dataDir: dir });
  const org = await first.createOrganization('Metro');
  const auth = { authorization: `Bearer ${org.apiKey}` };
  const project = (await first.app.inject({ method: 'POST', url: '/v1/projects', headers: auth, payload: { name: 'Harbour' } })).json().id as string;
  const zones = Array.from({ length: 50 }, (_, i) => ({
    curb_zone_id: `d0000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    geometry: { type: 'LineString', coordinates: [[-122.4, 37.7 + i / 1e4], [-122.39, 37.7 + i / 1e4]] },
    curb_policy_ids: [],
    published_date: 1700000000000,
    last_updated_date: 1700000000000,
    start_date: 1700000000000,
  }));
  const imported = await first.app.inject({ method: 'POST', url: `/v1/projects/${project}/curbs/import`, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ version: '1.1', data: { zones } }) });
  expect(imported.statusCode, imported.body).toBe(201);
  await first.close();

  // What a process killed mid-export leaves: the job requested and started, half an artifact on disk.
  const jobId = '7e57e57e-0000-4000-8000-000000000001';
  const database = new SqliteDatabase(join(dir, 'curbmap.db'));
  const store = new SqliteEventStore(database, new EventRegistry().register(...exportContracts));
  const envelope = (id: string, type: string, data: unknown) => ({ id, type, data, occurredAt: new Date().toISOString(), organizationId: org.id, projectId: project, correlationId: id, causationId: id });
  const request = { dataset: 'zones', format: 'csv', projectId: project, cdsVersion: '1.1', filters: {}, changedSince: null, timeZone: 'UTC', compression: 'none' };
  await store.append(`export-${jobId}`, [envelope('7e57e57e-0000-4000-8000-0000000000a1', 'export.job.requested', { jobId, request, scheduleId: null, dueAt: null }), envelope('7e57e57e-0000-4000-8000-0000000000a2', 'export.job.started', { attempt: 1, rowsTotal: 50 })], { expectedVersion: 'no_stream' });
  database.close();
  const artifactDir = join(dir, 'artifacts', 'exports', org.id);
  mkdirSync(artifactDir, { recursive: true });
  writeFileSync(join(artifactDir, `${jobId}.csv.partial`), 'project_id,curb_zone_id\r\nhalf a ro');

  const second = await startTestPlatform({ dataDir: dir });
  try {
    await second.modules.export.runner!.idle();
    await second.settle();
    const job = (await second.app.inject({ url: `/v1/exports/${jobId}`, headers: auth })).json();
    expect(job).toMatchObject({ status: 'completed', attempt: 2, manifest: { rows: 50 } });
    const redirect = await second.app.inject({ url: `/v1/exports/${jobId}/download`, headers: auth });
    const file = await second.app.inject({ url: redirect.headers.location as string });
    expect(file.statusCode).toBe(200);
    expect(createHash('sha256').update(file.rawPayload).digest('hex')).toBe(job.manifest.sha256);
    expect(file.body.trim().split('\r\n')).toHaveLength(51);
    expect(readdirSync(artifactDir)).toEqual([`${jobId}.csv`]);
    expect(readFileSync(join(artifactDir, `${jobId}.csv`)).length).toBe(job.manifest.bytes);
    expect(existsSync(join(artifactDir, `${jobId}.csv.partial`))).toBe(false);
  } finally {
    await second.close();
  }
});

it('an export requested while the inventory read model is still projecting an import waits for it: every accepted zone is in the file', async () => {
  const platform = await startTestPlatform();
  try {
    const org = await platform.createOrganization('Metro');
    const auth = { authorization: `Bearer ${org.apiKey}` };
    const project = (await platform.app.inject({ method: 'POST', url: '/v1/projects', headers: auth, payload: { name: 'Harbour' } })).json().id as string;
    // Ten chunks appended as an import appends them, without waiting for the read model (as a 202 answer would leave it).
    const zone = (i: number) => ({ curb_zone_id: `e0000000-0000-4000-8000-${String(i).padStart(12, '0')}`, geometry: { type: 'LineString', coordinates: [[-122.4, 37.7], [-122.39, 37.71]] }, curb_policy_ids: [], published_date: 1, last_updated_date: 1, start_date: 1 });
    const importId = '1e57e57e-0000-4000-8000-000000000001';
    const events = Array.from({ length: 10 }, (_, c) => ({
      id: `1e57e57e-0000-4000-8000-0000000001${String(c).padStart(2, '0')}`,
      type: 'curbs.imported',
      data: { importId, chunk: c, chunks: 10, source: 'cds', cdsVersion: '1.1', zones: Array.from({ length: 1000 }, (_, k) => zone(c * 1000 + k)), areas: [], spaces: [], objects: [], policies: [] },
      occurredAt: new Date().toISOString(),
      organizationId: org.id,
      projectId: project,
      correlationId: importId,
      causationId: importId,
    }));
    await platform.ctx.store.append(`curbs-${project}`, events, { expectedVersion: 'any' });
    const started = await platform.app.inject({ method: 'POST', url: '/v1/exports', headers: auth, payload: { dataset: 'zones', format: 'ndjson' } });
    expect(started.statusCode, started.body).toBe(202);
    await platform.modules.export.runner!.idle();
    await platform.settle();
    const job = (await platform.app.inject({ url: `/v1/exports/${started.json().id}`, headers: auth })).json();
    expect(job).toMatchObject({ status: 'completed', manifest: { rows: 10_000 } });
  } finally {
    await platform.close();
  }
});
