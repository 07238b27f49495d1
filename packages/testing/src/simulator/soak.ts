// `make soak`: simulated histories for as long as asked (SEED, HISTORIES, DURATION in minutes, MODE), then a
// report: histories, operations, faults, violations by invariant, requests and p99. Exit 1 on any violation.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simulate, type SimulationReport } from './simulation.ts';

const env = process.env;
const seed = Number(env['SEED'] ?? Date.now() % 1_000_000);
const histories = Number(env['HISTORIES'] ?? 1_000_000);
const minutes = Number(env['DURATION'] ?? 30);
const steps = Number(env['STEPS'] ?? 200);
const crashRate = Number(env['CRASH_RATE'] ?? 0.02);
const out = env['REPORT'] ?? null;
const mode = (env['MODE'] ?? 'embedded') as 'embedded' | 'distributed';
const deadline = Date.now() + minutes * 60_000;

const reports: SimulationReport[] = [];
for (let h = 0; h < histories && Date.now() < deadline; h++) {
  const report = await simulate({ seed: seed + h, mode, organizations: 5, steps, years: 3, crashRate });
  reports.push(report);
  const verdict = report.violations.length ? `${report.violations.length} violations` : 'ok';
  process.stdout.write(`history ${h + 1} (seed ${report.seed}): ${report.steps} steps, ${report.faults} faults, ${report.requests} requests, p99 ${report.p99Ms} ms, ${Math.round(report.durationMs / 1000)} s: ${verdict}\n`);
  for (const v of report.violations) process.stdout.write(`  [${v.invariant}] step ${v.step}: ${v.detail}\n`);
  if (report.history.length) process.stdout.write(`  history (the organizations named, and the operator's steps):\n${report.history.map((l) => `    ${l}`).join('\n')}\n`);
}

const total = (f: (r: SimulationReport) => number) => reports.reduce((a, r) => a + f(r), 0);
const operations: Record<string, number> = {};
for (const r of reports) for (const [op, n] of Object.entries(r.operations)) operations[op] = (operations[op] ?? 0) + n;
const byInvariant: Record<string, number> = {};
for (const r of reports) for (const v of r.violations) byInvariant[v.invariant] = (byInvariant[v.invariant] ?? 0) + 1;
const summary = {
  mode,
  firstSeed: seed,
  histories: reports.length,
  steps: total((r) => r.steps),
  operations,
  faults: total((r) => r.faults),
  requests: total((r) => r.requests),
  p99Ms: Math.max(0, ...reports.map((r) => r.p99Ms)),
  minutes: Math.round(total((r) => r.durationMs) / 60_000),
  violationsByInvariant: byInvariant,
  failingSeeds: reports.filter((r) => r.violations.length).map((r) => r.seed),
};
process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
if (out) {
  const path = join(fileURLToPath(new URL('../../../../', import.meta.url)), out);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `${JSON.stringify(summary, null, 2)}\n`);
}
process.exit(summary.failingSeeds.length ? 1 : 0);
