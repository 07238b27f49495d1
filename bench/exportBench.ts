import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { EventRegistry, exportContracts, type NewEvent } from '@curbmap/contracts';
import { SqliteDatabase, SqliteEventStore } from '@curbmap/eventsourcing';
import { BENCH_ADMIN as ADMIN, call, startPlatformProcess } from './platformProcess.ts';
import type { Figure } from './report.ts';

const POLICIES = Array.from({ length: 20 }, () => randomUUID());
const STREETS = ['Main St', 'State St', 'Lake Shore Dr', 'Michigan Ave', 'Halsted St', 'Clark St', 'Division St', 'Western Ave'];

/** Seeded PRNG: the same zones every run. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * A curb zone as cities map them: a strip 10–60 m long and about 2.5 m deep along a street of a city-sized
 * area, drawn with 5 to 20 vertices (intermediate points along its long sides).
 */
function zone(i: number, rnd: () => number): Record<string, unknown> {
  const lng = -87.9 + rnd() * 0.4;
  const lat = 41.65 + rnd() * 0.35;
  const heading = rnd() * Math.PI;
  const length = (10 + rnd() * 50) / 111_320;
  const depth = 2.5 / 111_320;
  const vertices = 5 + Math.floor(rnd() * 16);
  const alongSide = Math.max(2, Math.floor((vertices - 1) / 2));
  const [dx, dy] = [Math.cos(heading), Math.sin(heading)];
  const [nx, ny] = [-dy, dx];
  const ring: number[][] = [];
  const round = (v: number) => Math.round(v * 1e7) / 1e7;
  for (let k = 0; k < alongSide; k++) ring.push([round(lng + dx * length * (k / (alongSide - 1))), round(lat + dy * length * (k / (alongSide - 1)))]);
  for (let k = vertices - 1 - alongSide - 1; k >= 0; k--) {
    const t = vertices - 1 - alongSide === 1 ? 0.5 : k / (vertices - 1 - alongSide - 1);
    ring.push([round(lng + dx * length * t + nx * depth), round(lat + dy * length * t + ny * depth)]);
  }
  ring.push(ring[0]!);
  const t = 1_700_000_000_000 + i * 1000;
  return {
    curb_zone_id: randomUUID(),
    geometry: { type: 'Polygon', coordinates: [ring] },
    curb_policy_ids: [POLICIES[i % POLICIES.length]!],
    published_date: t,
    last_updated_date: t,
    start_date: t,
    street_name: STREETS[i % STREETS.length]!,
    name: `Zone ${i}`,
    length: Math.round(length * 111_320 * 100),
  };
}

/** Appends the zones as import chunks (what POST …/curbs/import stores) and writes the same as GeoJSON for ogr2ogr. */
async function seed(dataDir: string, organizationId: string, projectId: string, zones: number, geojsonPath: string): Promise<string> {
  const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
  const store = new SqliteEventStore(database, new EventRegistry().register(...exportContracts));
  const geojson = createWriteStream(geojsonPath);
  const write = async (s: string) => {
    if (!geojson.write(s)) await once(geojson, 'drain');
  };
  const rnd = prng(42);
  let lastZone = '';
  const importId = randomUUID();
  const chunks = Math.ceil(zones / 1000);
  const envelope = (type: string, data: unknown): NewEvent => ({ id: randomUUID(), type, data, occurredAt: new Date().toISOString(), organizationId, projectId, correlationId: importId, causationId: importId });
  const policies = POLICIES.map((id, p) => ({ curb_policy_id: id, published_date: 1_700_000_000_000, priority: p + 1, rules: [{ activity: 'parking', max_stay: 60 }] }));
  await store.append(`curbs-${projectId}`, [envelope('curbs.imported', { importId, chunk: 0, chunks: chunks + 1, source: 'cds', cdsVersion: '1.1', zones: [], areas: [], spaces: [], objects: [], policies })], { expectedVersion: 'any' });
  await write('{"type":"FeatureCollection","features":[\n');
  for (let c = 0; c < chunks; c++) {
    const list = Array.from({ length: Math.min(1000, zones - c * 1000) }, (_, k) => zone(c * 1000 + k, rnd));
    await store.append(`curbs-${projectId}`, [envelope('curbs.imported', { importId, chunk: c + 1, chunks: chunks + 1, source: 'cds', cdsVersion: '1.1', zones: list, areas: [], spaces: [], objects: [], policies: [] })], { expectedVersion: 'any' });
    let text = '';
    lastZone = list[list.length - 1]!['curb_zone_id'] as string;
    for (const [k, z] of list.entries()) {
      const { geometry, curb_policy_ids, ...props } = z;
      text += `${c === 0 && k === 0 ? '' : ',\n'}${JSON.stringify({ type: 'Feature', properties: { ...props, curb_policy_ids: (curb_policy_ids as string[]).join(';') }, geometry })}`;
    }
    await write(text);
  }
  await write('\n]}\n');
  geojson.end();
  await once(geojson, 'close');
  database.close();
  return lastZone;
}

/** Peak resident set of a process since the last reset (VmHWM), in MB; resets it when asked (root, Linux). */
function peakRss(pid: number, reset = false): number {
  const mb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  if (reset) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // Not allowed here: the peak then covers the process's whole life (start-up included), never less.
    }
  }
  return mb;
}

async function waitFor<T>(what: string, poll: () => Promise<T | null>, timeoutMs: number, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await poll();
    if (v !== null) return v;
    if (Date.now() > until) throw new Error(`bench: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** ogr2ogr GeoJSON → CSV with WKT geometry: seconds and peak RSS (MB), or null where GDAL is not installed. */
function ogr2ogr(geojson: string, out: string): { seconds: number; rssMb: number } | null {
  if (!existsSync('/usr/bin/ogr2ogr') || !existsSync('/usr/bin/time')) return null;
  rmSync(out, { force: true });
  const started = performance.now();
  const run = spawnSync('/usr/bin/time', ['-f', 'maxrss_kb=%M', '/usr/bin/ogr2ogr', '-f', 'CSV', out, geojson, '-lco', 'GEOMETRY=AS_WKT'], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (run.status !== 0) throw new Error(`bench: ogr2ogr failed: ${run.stderr.toString()}`);
  const stderr = run.stderr.toString();
  const seconds = (performance.now() - started) / 1000;
  return { seconds, rssMb: Number(/maxrss_kb=(\d+)/.exec(stderr)?.[1] ?? 0) / 1024 };
}

/** Exports of N zones (CSV and CDS) from the running platform, against ogr2ogr on the same data. */
async function exportRun(zones: number): Promise<Figure[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-bench-export-'));
  const geojson = join(dataDir, 'zones.geojson');
  const figures: Figure[] = [];
  const label = zones.toLocaleString('en-US');
  try {
    const first = await startPlatformProcess('export', {}, { dataDir });
    const org = JSON.parse((await call(first.port, 'POST', '/v1/organizations', ADMIN, JSON.stringify({ name: 'Bench City', billingEmail: 'ap@bench.example' }))).body) as { id: string; apiKey: string };
    const project = (JSON.parse((await call(first.port, 'POST', '/v1/projects', org.apiKey, JSON.stringify({ name: 'P' }))).body) as { id: string }).id;
    await first.stop();
    process.stderr.write(`bench: export: seeding ${label} zones…\n`);
    const lastZone = await seed(dataDir, org.id, project, zones, geojson);

    // The inventory read model catches up on the seeded chunks (the projection's own cost, reported too).
    const catchUp = performance.now();
    const second = await startPlatformProcess('export', {}, { dataDir });
    // The last zone appended is the last one the projection shows.
    await waitFor('the inventory projection', async () => ((await call(second.port, 'GET', `/v1/projects/${project}/curb-zones/${lastZone}`, org.apiKey)).status === 200 ? true : null), 1_800_000, 200);
    const projectionSeconds = (performance.now() - catchUp) / 1000;
    await second.stop();
    figures.push({ name: `curb inventory projection, ${label} zones`, value: zones / projectionSeconds, unit: 'zones/s', detail: `${projectionSeconds.toFixed(1)} s from platform start to caught up (import chunks of 1,000 zones)` });

    // A fresh process exports: its peak RSS is the export's (and start-up's), nothing of the seeding.
    const third = await startPlatformProcess('export', {}, { dataDir });
    const baseline = ogr2ogr(geojson, join(dataDir, 'ogr.csv'));
    try {
      for (const format of ['csv', 'cds'] as const) {
        peakRss(third.pid, true);
        const started = performance.now();
        const job = JSON.parse((await call(third.port, 'POST', '/v1/exports', org.apiKey, JSON.stringify({ dataset: 'zones', format }))).body) as { id: string };
        const done = await waitFor(`the ${format} export`, async () => {
          const view = JSON.parse((await call(third.port, 'GET', `/v1/exports/${job.id}`, org.apiKey)).body) as { status: string; manifest: { rows: number; bytes: number } | null; failureReason: string | null };
          if (view.status === 'failed') throw new Error(`bench: export failed: ${view.failureReason}`);
          return view.status === 'completed' ? view : null;
        }, 1_800_000, 50);
        const seconds = (performance.now() - started) / 1000;
        const rss = peakRss(third.pid);
        const rate = done.manifest!.rows / seconds;
        const ogr = baseline ? zones / baseline.seconds : undefined;
        figures.push({
          name: `${format === 'csv' ? 'CSV (WKT)' : 'CDS 1.1'} export, ${label} zones`,
          value: rate,
          unit: 'zones/s',
          ...(ogr !== undefined && format === 'csv' ? { baseline: ogr, target: { ratio: 1 } } : {}),
          ...(ogr !== undefined && format === 'cds' ? { baseline: ogr } : {}),
          detail: `${done.manifest!.rows} rows, ${(done.manifest!.bytes / 1e6).toFixed(0)} MB in ${seconds.toFixed(1)} s, POST to completed (snapshot, stream to disk, fsync, manifest)${baseline ? `; baseline: ogr2ogr GeoJSON→CSV (WKT) ${baseline.seconds.toFixed(1)} s` : '; ogr2ogr not installed: no baseline'}`,
        });
        figures.push({ name: `${format === 'csv' ? 'CSV' : 'CDS'} export peak RSS, ${label} zones`, value: rss, unit: 'MB', target: { max: 250 }, detail: `whole platform process (VmHWM)${baseline ? `; ogr2ogr peak ${baseline.rssMb.toFixed(0)} MB` : ''}` });
      }
    } finally {
      await third.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return figures;
}

/** POST …/curbs/import of a CDS file of N zones, streamed from disk: time to the answer and the platform's peak RSS. */
async function importRun(zones: number): Promise<Figure[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-bench-import-'));
  const file = join(dataDir, 'zones.cds.json');
  try {
    const out = createWriteStream(file);
    const rnd = prng(7);
    out.write('{"version":"1.1","time_zone":"America/Chicago","last_updated":1700000000000,"currency":"USD","data":{"zones":[');
    for (let i = 0; i < zones; i++) if (!out.write(`${i ? ',' : ''}${JSON.stringify({ ...zone(i, rnd), curb_policy_ids: [] })}`)) await once(out, 'drain');
    out.end(']}}');
    await once(out, 'close');
    const platform = await startPlatformProcess('import', {}, { dataDir: join(dataDir, 'platform') });
    try {
      const org = JSON.parse((await call(platform.port, 'POST', '/v1/organizations', ADMIN, JSON.stringify({ name: 'Bench City', billingEmail: 'ap@bench.example' }))).body) as { id: string; apiKey: string };
      const project = (JSON.parse((await call(platform.port, 'POST', '/v1/projects', org.apiKey, JSON.stringify({ name: 'P' }))).body) as { id: string }).id;
      const before = peakRss(platform.pid, true);
      const started = performance.now();
      const samples: string[] = [];
      const sampler = process.env['RSS_TRACE'] ? setInterval(() => samples.push(`${((performance.now() - started) / 1000).toFixed(1)}s:${(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${platform.pid}/status`, 'utf8'))?.[1]) / 1024).toFixed(0)}`), 250) : null;
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: platform.port, path: `/v1/projects/${project}/curbs/import`, method: 'POST', headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json', 'content-length': statSync(file).size } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        createReadStream(file).pipe(req);
      });
      const seconds = (performance.now() - started) / 1000;
      if (sampler) {
        await new Promise((r) => setTimeout(r, 5000));
        clearInterval(sampler);
        process.stderr.write(`${samples.join(' ')}\n`);
      }
      if (status !== 201 && status !== 202) throw new Error(`bench: import answered ${status}`);
      const rss = peakRss(platform.pid);
      const mb = statSync(file).size / 1e6;
      return [
        { name: `CDS import over HTTP, ${zones.toLocaleString('en-US')} zones`, value: zones / seconds, unit: 'zones/s', detail: `${mb.toFixed(0)} MB body streamed, validated (all or nothing) and appended in ${seconds.toFixed(1)} s (answer ${status}: ${status === 202 ? 'read model still projecting' : 'read model caught up'})` },
        { name: `CDS import peak RSS, ${zones.toLocaleString('en-US')} zones`, value: rss, unit: 'MB', detail: `platform process (VmHWM; ${before.toFixed(0)} MB before); the body is parsed as it arrives, never held as text` },
      ];
    } finally {
      await platform.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Curb zone exports at 100,000 and 1,000,000 zones (times BENCH_SCALE), and an import of 100,000. */
export async function exportBench(scale: number): Promise<Figure[]> {
  const figures: Figure[] = await importRun(Math.max(1000, Math.round(100_000 * scale)));
  for (const zones of [100_000, 1_000_000]) figures.push(...(await exportRun(Math.max(1000, Math.round(zones * scale)))));
  return figures;
}
