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

/**
 * ogr2ogr GeoJSON → CSV with WKT geometry (exports' baseline), or → GeoPackage (imports': a validated load into a
 * queryable SQLite file): seconds and peak RSS (MB), or null where GDAL is not installed.
 */
function ogr2ogr(geojson: string, out: string, format: 'CSV' | 'GPKG' = 'CSV'): { seconds: number; rssMb: number } | null {
  if (!existsSync('/usr/bin/ogr2ogr') || !existsSync('/usr/bin/time')) return null;
  rmSync(out, { force: true });
  const started = performance.now();
  const run = spawnSync('/usr/bin/time', ['-f', 'maxrss_kb=%M', '/usr/bin/ogr2ogr', '-f', format, out, geojson, ...(format === 'CSV' ? ['-lco', 'GEOMETRY=AS_WKT'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
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
    // The seeding's writes (the log, the GeoJSON: over a GB at a million zones) go to disk before the clock starts:
    // otherwise the kernel flushes them during the catch-up, and each checkpoint's fsync waits for the harness's pages.
    spawnSync('sync');

    // The inventory read model catches up on the seeded chunks (the projection's own cost, reported too).
    const catchUp = performance.now();
    const second = await startPlatformProcess('export', {}, { dataDir });
    // The last zone appended is the last one the projection shows.
    // Caught up: it shows the last zone appended, and is ready (its indexes built, were they left for the end).
    const caughtUp = async () => (await call(second.port, 'GET', `/v1/projects/${project}/curb-zones/${lastZone}`, org.apiKey)).status === 200 && (await call(second.port, 'GET', '/readyz', '')).status === 200;
    await waitFor('the inventory projection', async () => ((await caughtUp()) ? true : null), 1_800_000, 200);
    const projectionSeconds = (performance.now() - catchUp) / 1000;
    await second.stop();
    // The target is the issue's, at a million zones (a smaller inventory is reported alone).
    figures.push({ name: `curb inventory projection, ${label} zones`, value: zones / projectionSeconds, unit: 'zones/s', ...(zones >= 1_000_000 ? { target: { min: 30_000 } } : {}), detail: `${projectionSeconds.toFixed(1)} s from platform start to caught up (import chunks of 1,000 zones; the seeded log flushed to disk first)` });

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

/**
 * POST …/curbs/import of a CDS file of N zones, streamed from disk: time to the answer (stored), time until the
 * inventory has applied it (its status), and the platform's peak RSS over both; beside ogr2ogr loading the same
 * zones from GeoJSON into a GeoPackage.
 */
async function importRun(zones: number): Promise<Figure[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'curbmap-bench-import-'));
  const file = join(dataDir, 'zones.cds.json');
  const geojson = join(dataDir, 'zones.geojson');
  try {
    const out = createWriteStream(file);
    const gis = createWriteStream(geojson);
    const rnd = prng(7);
    out.write('{"version":"1.1","time_zone":"America/Chicago","last_updated":1700000000000,"currency":"USD","data":{"zones":[');
    gis.write('{"type":"FeatureCollection","features":[\n');
    for (let i = 0; i < zones; i++) {
      const { geometry, curb_policy_ids: _, ...props } = zone(i, rnd);
      if (!out.write(`${i ? ',' : ''}${JSON.stringify({ ...props, geometry, curb_policy_ids: [] })}`)) await once(out, 'drain');
      if (!gis.write(`${i ? ',\n' : ''}${JSON.stringify({ type: 'Feature', properties: props, geometry })}`)) await once(gis, 'drain');
    }
    out.end(']}}');
    gis.end('\n]}\n');
    await Promise.all([once(out, 'close'), once(gis, 'close')]);
    // Both inputs on disk before either side is timed (the kernel would flush them during the first one).
    spawnSync('sync');
    const baseline = ogr2ogr(geojson, join(dataDir, 'ogr.gpkg'), 'GPKG');
    const platform = await startPlatformProcess('import', {}, { dataDir: join(dataDir, 'platform') });
    try {
      const org = JSON.parse((await call(platform.port, 'POST', '/v1/organizations', ADMIN, JSON.stringify({ name: 'Bench City', billingEmail: 'ap@bench.example' }))).body) as { id: string; apiKey: string };
      const project = (JSON.parse((await call(platform.port, 'POST', '/v1/projects', org.apiKey, JSON.stringify({ name: 'P' }))).body) as { id: string }).id;
      const before = peakRss(platform.pid, true);
      const started = performance.now();
      const answer = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: platform.port, path: `/v1/projects/${project}/curbs/import`, method: 'POST', headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json', 'content-length': statSync(file).size } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers['location'] }));
        });
        req.on('error', reject);
        createReadStream(file).pipe(req);
      });
      const seconds = (performance.now() - started) / 1000;
      const rss = peakRss(platform.pid);
      if (answer.status !== 201 && answer.status !== 202) throw new Error(`bench: import answered ${answer.status}`);
      if (answer.status === 202) {
        await waitFor('the import applied', async () => {
          const status = await call(platform.port, 'GET', answer.location!, org.apiKey);
          return status.status === 200 && (JSON.parse(status.body) as { status: string }).status === 'applied' ? true : null;
        }, 600_000, 50);
      }
      const appliedSeconds = (performance.now() - started) / 1000;
      const rssApplied = peakRss(platform.pid);
      const mb = statSync(file).size / 1e6;
      const ogr = baseline ? `; baseline: ogr2ogr GeoJSON→GeoPackage ${baseline.seconds.toFixed(1)} s, peak ${baseline.rssMb.toFixed(0)} MB` : '; ogr2ogr not installed: no baseline';
      return [
        { name: `CDS import over HTTP, ${zones.toLocaleString('en-US')} zones`, value: zones / seconds, unit: 'zones/s', ...(baseline ? { baseline: zones / baseline.seconds } : {}), target: { ratio: 1 }, detail: `${mb.toFixed(0)} MB body streamed, validated (all or nothing) and stored in ${seconds.toFixed(1)} s (answer ${answer.status})${ogr}` },
        { name: `CDS import applied to the inventory, ${zones.toLocaleString('en-US')} zones`, value: zones / appliedSeconds, unit: 'zones/s', detail: `${appliedSeconds.toFixed(1)} s from the request to the import's status \`applied\` (every zone queryable)` },
        { name: `CDS import peak RSS, ${zones.toLocaleString('en-US')} zones`, value: rss, unit: 'MB', target: { max: 250 }, detail: `platform process (VmHWM; ${before.toFixed(0)} MB before), from the request to the answer; the body is parsed as it arrives, never held as text` },
        { name: `CDS import peak RSS until applied, ${zones.toLocaleString('en-US')} zones`, value: rssApplied, unit: 'MB', detail: 'the same, until the inventory has applied the import (its projection in the same process)' },
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
  // To look at one figure: BENCH_EXPORT_ZONES=1000000 runs the exports of that many zones alone (no import),
  // BENCH_EXPORT_ZONES=0 the import alone.
  const only = process.env['BENCH_EXPORT_ZONES'] ? [Number(process.env['BENCH_EXPORT_ZONES'])].filter((n) => n > 0) : null;
  const figures: Figure[] = only?.length ? [] : await importRun(Math.max(1000, Math.round(100_000 * scale)));
  for (const zones of only ?? [100_000, 1_000_000]) figures.push(...(await exportRun(Math.max(1000, Math.round(zones * scale)))));
  return figures;
}
