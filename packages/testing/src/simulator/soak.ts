// `make soak`: simulated histories for as long as asked (SEED, HISTORIES, DURATION in minutes, MODE), then a
// report: histories, operations, faults, violations by invariant, requests and p99. Exit 1 on any violation.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulate, type SimulationOptions, type SimulationReport } from './simulation.ts';

const env = process.env;
const seed = Number(env['SEED'] ?? Date.now() % 1_000_000);
const histories = Number(env['HISTORIES'] ?? 1_000_000);
const minutes = Number(env['DURATION'] ?? 30);
const steps = Number(env['STEPS'] ?? 200);
const crashRate = Number(env['CRASH_RATE'] ?? 0.02);
const out = env['REPORT'] ?? null;
// MODE=both: histories alternate between the two modes.
const mode = env['MODE'] ?? 'embedded';
const modes = (mode === 'both' ? ['embedded', 'distributed'] : [mode]) as SimulationOptions['mode'][];
// COLLECTION=transfer|card|both (the default): bank transfers the operator records, cards Stripe charges.
const collection = env['COLLECTION'] ?? 'both';
const collections = (collection === 'both' ? ['transfer', 'card'] : [collection]) as NonNullable<SimulationOptions['collection']>[];
const only = env['ONLY'] ? env['ONLY'].split(',').map(Number) : undefined;
const shortenMinutes = Number(env['SHORTEN_MINUTES'] ?? 10);
const deadline = Date.now() + minutes * 60_000;

/**
 * The fewest steps of a failing history that still fail the same invariant (delta debugging on the steps: drop a
 * part, keep the rest if it still fails, finer and finer), within SHORTEN_MINUTES. Each step replays as the whole
 * history made it (its choices come from the seed and its number), so the steps kept are a history of their own.
 */
async function shorten(options: SimulationOptions, invariant: string): Promise<number[]> {
  const fails = async (steps: number[]) => (await simulate({ ...options, only: steps })).violations.some((v) => v.invariant === invariant);
  let steps = options.only ?? Array.from({ length: options.steps }, (_, i) => i + 1);
  let parts = 2;
  for (const until = Date.now() + shortenMinutes * 60_000; steps.length > 1 && Date.now() < until; ) {
    const size = Math.ceil(steps.length / parts);
    let dropped = false;
    for (let i = 0; i < parts && Date.now() < until && !dropped; i++) {
      const rest = steps.filter((_, k) => k < i * size || k >= (i + 1) * size);
      if (rest.length && (await fails(rest))) {
        steps = rest;
        parts = Math.max(parts - 1, 2);
        dropped = true;
      }
    }
    if (!dropped) {
      if (parts >= steps.length) break;
      parts = Math.min(steps.length, parts * 2);
    }
  }
  return steps;
}

const reports: SimulationReport[] = [];
for (let h = 0; h < histories && Date.now() < deadline; h++) {
  const options: SimulationOptions = { seed: seed + h, mode: modes[h % modes.length]!, collection: collections[Math.floor(h / modes.length) % collections.length]!, organizations: 5, steps, years: 3, crashRate, ...(only ? { only } : {}) };
  const report = await simulate(options);
  reports.push(report);
  const verdict = report.violations.length ? `${report.violations.length} violations` : 'ok';
  process.stdout.write(`history ${h + 1} (${report.mode}, ${options.collection}, seed ${report.seed}): ${report.steps} steps, ${report.faults} faults, ${report.requests} requests, p99 ${report.p99Ms} ms, ${Math.round(report.durationMs / 1000)} s: ${verdict}\n`);
  for (const v of report.violations) process.stdout.write(`  [${v.invariant}] step ${v.step}: ${v.detail}\n`);
  for (const r of report.restarts) process.stdout.write(`  restarted by the supervisor: ${r}\n`);
  if (report.history.length) process.stdout.write(`  history (the organizations named, and the operator's steps):\n${report.history.map((l) => `    ${l}`).join('\n')}\n`);
  if (report.violations.length && shortenMinutes > 0) {
    const kept = await shorten(options, report.violations[0]!.invariant);
    report.shortened = kept;
    process.stdout.write(`  shortened to ${kept.length} of ${steps} steps; replay: make soak MODE=${report.mode} COLLECTION=${options.collection} SEED=${report.seed} HISTORIES=1 STEPS=${steps} CRASH_RATE=${crashRate} ONLY=${kept.join(',')}\n`);
  }
}

const total = (f: (r: SimulationReport) => number) => reports.reduce((a, r) => a + f(r), 0);
const sum = (pick: (r: SimulationReport) => Record<string, number>) => {
  const out: Record<string, number> = {};
  for (const r of reports) for (const [k, n] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + n;
  return out;
};
const operations = sum((r) => r.operations);
const byInvariant: Record<string, number> = {};
for (const r of reports) for (const v of r.violations) byInvariant[v.invariant] = (byInvariant[v.invariant] ?? 0) + 1;
const summary = {
  mode,
  firstSeed: seed,
  histories: reports.length,
  byMode: Object.fromEntries(modes.map((m) => {
    const of = reports.filter((r) => r.mode === m);
    return [m, { histories: of.length, faults: of.reduce((a, r) => a + r.faults, 0), minutes: Math.round(of.reduce((a, r) => a + r.durationMs, 0) / 60_000), violations: of.reduce((a, r) => a + r.violations.length, 0) }];
  })),
  byCollection: Object.fromEntries(collections.map((c) => [c, { histories: reports.filter((r) => r.collection === c).length, violations: reports.filter((r) => r.collection === c).reduce((a, r) => a + r.violations.length, 0) }])),
  steps: total((r) => r.steps),
  operations,
  covered: sum((r) => r.covered),
  faults: total((r) => r.faults),
  supervisorRestarts: total((r) => r.restarts.length),
  requests: total((r) => r.requests),
  p99Ms: Math.max(0, ...reports.map((r) => r.p99Ms)),
  minutes: Math.round(total((r) => r.durationMs) / 60_000),
  violationsByInvariant: byInvariant,
  failingSeeds: reports.filter((r) => r.violations.length).map((r) => ({ seed: r.seed, mode: r.mode, collection: r.collection, invariants: [...new Set(r.violations.map((v) => v.invariant))], ...(r.shortened ? { only: r.shortened } : {}) })),
};
process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
if (out) {
  const path = join(fileURLToPath(new URL('../../../../', import.meta.url)), out);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${JSON.stringify(summary, null, 2)}\n`);
}
process.exit(summary.failingSeeds.length ? 1 : 0);
