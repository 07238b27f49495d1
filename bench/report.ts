import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The same work done by the reference in the same run; the report gives the ratio. */
  baseline?: number;
  target?: { ratio?: number; min?: number; max?: number };
  detail?: string;
}

function verdict(f: Figure): string {
  if (!f.target) return '';
  const { ratio, min, max } = f.target;
  const ok = (ratio === undefined || (f.baseline !== undefined && f.value / f.baseline >= ratio)) && (min === undefined || f.value >= min) && (max === undefined || f.value <= max);
  return ok ? 'met' : 'MISSED';
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

export function writeReport(dir: string, figures: Figure[], meta: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
  const rows = figures.map((f) => {
    const ratio = f.baseline ? `${(f.value / f.baseline).toFixed(2)}× of ${fmt(f.baseline)}` : '';
    const target = f.target ? [f.target.ratio !== undefined ? `≥ ${f.target.ratio}× baseline` : '', f.target.min !== undefined ? `≥ ${fmt(f.target.min)}` : '', f.target.max !== undefined ? `≤ ${fmt(f.target.max)}` : ''].filter(Boolean).join(', ') : '';
    return `| ${f.name} | ${fmt(f.value)} ${f.unit} | ${ratio} | ${target} | ${verdict(f)} | ${f.detail ?? ''} |`;
  });
  const md = [
    '# Benchmark results',
    '',
    `Run ${meta['date']} on ${machine}. Command: \`make bench\` (BENCH_SCALE=${meta['scale']}).`,
    '',
    '| figure | value | vs baseline (same run) | target | verdict | detail |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'latest.md'), md);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify({ ...meta, machine, figures: figures.map((f) => ({ ...f, verdict: verdict(f) || undefined })) }, null, 2)}\n`);
  return md;
}
