import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteDatabase, SqliteEventStore } from '@curbmap/eventsourcing';
import { LoadClient } from './loadClient.ts';
import { BENCH_ADMIN as ADMIN, call, startPlatformProcess } from './platformProcess.ts';
import type { Figure } from './report.ts';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** The baseline: a bare node:sqlite loop storing what an accepted batch stores (one row per batch, one claim per event). */
function bareLoop(events: number): number {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-bench-usage-bare-'));
  try {
    const db = new DatabaseSync(join(dir, 'bare.db'));
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    db.exec('CREATE TABLE batches (position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, data TEXT); CREATE TABLE claims (key TEXT PRIMARY KEY, position INTEGER) WITHOUT ROWID;');
    const batch = db.prepare('INSERT INTO batches (id, data) VALUES (?, ?)');
    const claim = db.prepare('INSERT INTO claims (key, position) VALUES (?, ?)');
    const items = (b: number) => Array.from({ length: 1000 }, (_, i) => ({ id: `e${b}-${i}`, type: 'hit', projectId: randomUUID(), time: new Date().toISOString(), data: {} }));
    const started = performance.now();
    for (let b = 0; b < events / 1000; b++) {
      const list = items(b);
      db.exec('BEGIN IMMEDIATE');
      const position = Number(batch.run(randomUUID(), JSON.stringify({ items: list })).lastInsertRowid);
      for (const item of list) claim.run(`usage:org:${item.id}`, position);
      db.exec('COMMIT');
    }
    const rate = events / ((performance.now() - started) / 1000);
    db.close();
    return rate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Usage: HTTP batch ingest, single-event POST latency, and a year's summary over many events (platform in its own process). */
export async function usageBench(scale: number): Promise<Figure[]> {
  const { port, dataDir, stop } = await startPlatformProcess('usage', { RATE_LIMIT_PER_MINUTE: '1000000000' });
  try {
    const org = JSON.parse((await call(port, 'POST', '/v1/organizations', ADMIN, JSON.stringify({ name: 'Bench City', billingEmail: 'ap@bench.example' }))).body) as { id: string; apiKey: string };
    const project = (JSON.parse((await call(port, 'POST', '/v1/projects', org.apiKey, JSON.stringify({ name: 'P' }))).body) as { id: string }).id;
    await call(port, 'POST', '/v1/meters', org.apiKey, JSON.stringify({ key: 'hits', name: 'Hits', eventType: 'hit', aggregation: 'count' }));

    // 1. Batches of 1,000 over HTTP, four clients at a time, each event new.
    const batchEvents = Math.round(200_000 * scale / 1000) * 1000;
    const baseline = bareLoop(batchEvents);
    const bodies = Array.from({ length: batchEvents / 1000 }, (_, b) => JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ id: `b${b}-${i}`, type: 'hit', projectId: project, data: {} }))));
    let next = 0;
    let accepted = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let b = next++; b < bodies.length; b = next++) {
          const res = await call(port, 'POST', '/v1/usage/events', org.apiKey, bodies[b]!);
          accepted += (JSON.parse(res.body) as { accepted: number }).accepted;
        }
      }),
    );
    const ingestRate = accepted / ((performance.now() - started) / 1000);
    if (accepted !== batchEvents) throw new Error(`accepted ${accepted} of ${batchEvents}`);
    // The single-event figure is the steady state: the batches' rollups finish first (how long that takes is
    // reported too), so a catch-up of 200,000 items is not counted as single-event latency.
    const backlogFrom = performance.now();
    const recent = `from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 3_600_000).toISOString()}`;
    while ((JSON.parse((await call(port, 'GET', `/v1/usage/summary?meter=hits&${recent}`, org.apiKey)).body) as { total: number }).total < batchEvents) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const backlogMs = performance.now() - backlogFrom;

    // 2. Single events, open loop at 2,000 requests/s; meanwhile, how long an accepted event takes to show
    //    in the summary (a probe every 250 ms, polled every 10 ms).
    await call(port, 'POST', '/v1/meters', org.apiKey, JSON.stringify({ key: 'probes', name: 'Probes', eventType: 'probe', aggregation: 'count' }));
    const visibility: number[] = [];
    let probing = true;
    const probes = (async () => {
      for (let k = 0; probing; k++) {
        const res = await call(port, 'POST', '/v1/usage/events', org.apiKey, JSON.stringify({ id: `probe-${k}`, type: 'probe', projectId: project, data: {} }));
        const accepted = performance.now();
        if (res.status !== 200) throw new Error(`probe ${k}: ${res.status}`);
        const window = `from=${new Date(Date.now() - 3_600_000).toISOString()}&to=${new Date(Date.now() + 3_600_000).toISOString()}`;
        for (;;) {
          const total = (JSON.parse((await call(port, 'GET', `/v1/usage/summary?meter=probes&${window}`, org.apiKey)).body) as { total: number }).total;
          if (total >= k + 1) break;
          await new Promise((r) => setTimeout(r, 10));
        }
        visibility.push(performance.now() - accepted);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    // The load itself goes through a lean client (see LoadClient): the figure is the platform's latency.
    const load = new LoadClient(port);
    const rate = 2000;
    const singles = rate + Math.round(rate * Math.max(2, 10 * scale));
    const latencies: number[] = [];
    const warmup = rate; // the first second warms the request path up (JIT) and is not counted
    let failed = 0;
    const t0 = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < singles; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const body = JSON.stringify({ id: `s${i}`, type: 'hit', projectId: project, data: {} });
      const sent = performance.now();
      const measured = i >= warmup;
      inflight.push(load.request('POST', '/v1/usage/events', org.apiKey, body).then((res) => void (res.status !== 200 ? (failed += 1) : measured && latencies.push(performance.now() - sent)), () => void (failed += 1)));
    }
    await Promise.all(inflight);
    load.close();
    const achieved = singles / ((performance.now() - t0) / 1000);
    probing = false;
    await probes;
    visibility.sort((a, b) => a - b);
    if (failed) throw new Error(`${failed} single-event POSTs failed`);
    latencies.sort((a, b) => a - b);

    // 3. A year of events straight into the log (as batches, spread over the past year), then a year's summary by day.
    const yearEvents = Math.round(10_000_000 * scale / 1000) * 1000;
    const database = new SqliteDatabase(join(dataDir, 'curbmap.db'));
    const store = new SqliteEventStore(database);
    const now = Date.now();
    for (let b = 0; b < yearEvents / 1000; b++) {
      const items = Array.from({ length: 1000 }, (_, i) => ({ id: `y${b}-${i}`, type: 'hit', projectId: project, time: new Date(now - Math.floor(((b * 1000 + i) / yearEvents) * 364 * 86_400_000)).toISOString(), data: {} }));
      await store.append(`usage-${org.id}`, [{ id: randomUUID(), type: 'usage.events.recorded', data: { items, timeZone: 'UTC' }, occurredAt: new Date().toISOString(), organizationId: org.id }], { expectedVersion: 'any' });
    }
    database.close();
    const from = new Date(now - 365 * 86_400_000).toISOString();
    const to = new Date(now + 3_600_000).toISOString();
    const expected = batchEvents + singles + yearEvents;
    const until = Date.now() + 30 * 60_000;
    for (;;) {
      const total = (JSON.parse((await call(port, 'GET', `/v1/usage/summary?meter=hits&from=${from}&to=${to}&window=day`, org.apiKey)).body) as { total: number }).total;
      if (total === expected) break;
      if (Date.now() > until) throw new Error(`rollups show ${total} of ${expected} events`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const s = performance.now();
      await call(port, 'GET', `/v1/usage/summary?meter=hits&from=${from}&to=${to}&window=day`, org.apiKey);
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);

    return [
      { name: 'usage batch ingest over HTTP (1,000-event batches)', value: ingestRate, unit: 'events/s', baseline, target: { min: 50_000 }, detail: `${accepted} events, 4 clients, durable and deduplicated; baseline: bare node:sqlite loop storing a batch row and a claim per event; rolled up ${Math.round(backlogMs)} ms after the last batch was accepted` },
      { name: 'usage single-event POST p99 at 2,000 req/s', value: percentile(latencies, 99), unit: 'ms', target: { max: 10 }, detail: `${latencies.length} events at ${Math.round(achieved)} req/s after a second of warm-up, once the batches are rolled up, open loop over 64 keep-alive connections (wrk-style client); p50 ${percentile(latencies, 50).toFixed(2)} ms` },
      { name: 'usage: accepted event visible in the summary, p99 under that load', value: percentile(visibility, 99), unit: 'ms', target: { max: 1000 }, detail: `${visibility.length} probes during the single-event load; p50 ${percentile(visibility, 50).toFixed(1)} ms` },
      { name: "usage summary: a year by day", value: percentile(times, 50), unit: 'ms', target: { max: 100 }, detail: `${expected} events in the rollups; median of 20, p95 ${percentile(times, 95).toFixed(1)} ms` },
    ];
  } finally {
    await stop();
  }
}
