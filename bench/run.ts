// make bench: every figure of docs/architecture is measured here and written to bench/results/latest.{md,json}.
import { join } from 'node:path';
import { eventStoreBench } from './eventStoreBench.ts';
import { webhookBench } from './webhookBench.ts';
import { usageBench } from './usageBench.ts';
import { exportBench } from './exportBench.ts';
import { invoicePdfBench } from './invoicePdfBench.ts';
import { dashboardBench } from './dashboardBench.ts';
import { kafkaBench } from './kafkaBench.ts';
import { distributedBench } from './distributedBench.ts';
import { writeReport, type Figure } from './report.ts';

const scale = Number(process.env['BENCH_SCALE'] ?? '1');
const only = process.argv.slice(2);
const suites: Record<string, (scale: number) => Promise<Figure[]>> = { eventstore: eventStoreBench, webhooks: webhookBench, usage: usageBench, export: exportBench, invoices: invoicePdfBench, dashboard: dashboardBench, kafka: kafkaBench, distributed: distributedBench };

const figures: Figure[] = [];
for (const [name, suite] of Object.entries(suites)) {
  if (only.length && !only.includes(name)) continue;
  process.stderr.write(`bench: ${name}…\n`);
  figures.push(...(await suite(scale)));
}
const md = writeReport(join(import.meta.dirname, 'results'), figures, { date: new Date().toISOString(), scale: String(scale) });
process.stdout.write(md);
