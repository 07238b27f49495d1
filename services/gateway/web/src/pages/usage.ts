import uPlot from 'uplot';
import { api, type Me } from '../api.ts';
import { empty, h } from '../dom.ts';
import { number } from '../format.ts';
import { bucketStarts, type UsageWindow } from '../buckets.ts';

interface Meter { key: string; name: string }
interface Summary { meter: string; window: string; total: number | null; series: { projectId: string | null; total: number | null; points: { start: string; value: number | null }[] }[] }
interface Quotas { meters: { meter: string; use: number; included: number; percentage: number | null }[] }
interface Project { id: string; name: string }

const palette = ['#1f4e79', '#c0504d', '#2e8b57', '#8064a2', '#f79646', '#4bacc6', '#7f6000', '#9b2d71', '#3d7b80', '#5f5f5f'];
const day = 86_400_000;

/**
 * The chart's data: one x axis (every bucket of the chosen range, in the organization's zone, and any bucket a
 * point has), one series per project; a bucket without usage is drawn at zero.
 */
export function chartData(summary: Summary, range: string[]): [number[], ...(number | null)[][]] {
  // Instants, not strings: the same start may be written with or without milliseconds.
  const xs = [...new Set([...range, ...summary.series.flatMap((s) => s.points.map((p) => p.start))].map((x) => Date.parse(x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const series = summary.series.map((s) => {
    const values: (number | null)[] = new Array(xs.length).fill(0);
    for (const p of s.points) values[index.get(Date.parse(p.start))!] = p.value;
    return values;
  });
  return [xs.map((x) => x / 1000), ...series];
}

/** A chart per meter over time (hour/day/month), split by project, a range picker, quota bars, CSV of what is shown. */
export async function usagePage(main: HTMLElement, me: Me): Promise<void> {
  const [meters, quotas, projects] = await Promise.all([api<{ data: Meter[] }>('/v1/meters'), api<Quotas>('/v1/usage/quotas').catch(() => ({ meters: [] })), api<{ data: Project[] }>('/v1/projects').catch(() => ({ data: [] as Project[] }))]);
  const names = new Map(projects.data.map((p) => [p.id, p.name]));
  const today = new Date();
  const iso = (d: Date) => d.toISOString().slice(0, 10);
  const meter = h('select', { id: 'meter' }, ...meters.data.map((m) => h('option', { value: m.key }, m.name)));
  const window = h('select', { id: 'window' }, ...['hour', 'day', 'month'].map((w) => h('option', { value: w, ...(w === 'day' ? { selected: true } : {}) }, w)));
  const from = h('input', { id: 'from', type: 'date', value: iso(new Date(today.getTime() - 30 * day)) });
  const to = h('input', { id: 'to', type: 'date', value: iso(new Date(today.getTime() + day)) });
  const csv = h('a', { class: 'button', download: 'usage.csv' }, 'Download CSV');
  const chart = h('div', { class: 'chart', role: 'img', 'aria-label': 'Usage over time by project' });
  const totals = h('div', {});
  const form = h('form', { class: 'controls', 'aria-label': 'What to show' },
    h('label', { for: 'meter' }, 'Meter'), meter,
    h('label', { for: 'window' }, 'By'), window,
    h('label', { for: 'from' }, 'From'), from,
    h('label', { for: 'to' }, 'To'), to,
    h('button', { type: 'submit' }, 'Show'), csv);
  const bars = quotas.meters.length === 0 ? empty('Your plan sets no included amounts.') : h('ul', { class: 'quotas' }, ...quotas.meters.map((q) => {
    const pct = Math.min(100, q.percentage ?? 0);
    return h('li', {},
      h('span', { class: 'quota-label', id: `q-${q.meter}` }, `${q.meter}: ${number(q.use)} of ${number(q.included)}`),
      h('span', { class: 'quota-bar', role: 'meter', 'aria-labelledby': `q-${q.meter}`, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct) },
        h('span', { class: `quota-fill${pct >= 100 ? ' over' : pct >= 80 ? ' near' : ''}`, style: `width:${pct}%` }),
        h('span', { class: 'mark', style: 'left:80%', title: '80 %' }), h('span', { class: 'mark', style: 'left:calc(100% - 2px)', title: '100 %' })));
  }));
  main.replaceChildren(h('h1', {}, 'Usage'), form, chart, totals, h('h2', {}, 'This subscription year'), bars);
  let plot: uPlot | null = null;

  async function show() {
    if (!meter.value) {
      chart.replaceChildren(empty('No meters yet.'));
      return;
    }
    const q = `meter=${encodeURIComponent(meter.value)}&from=${from.value}T00:00:00Z&to=${to.value}T00:00:00Z&window=${window.value}&groupBy=project&timeZone=${encodeURIComponent(me.organization.timeZone)}`;
    csv.setAttribute('href', `/v1/usage/report.csv?${q}`);
    chart.setAttribute('aria-busy', 'true');
    const summary = await api<Summary>(`/v1/usage/summary?${q}`);
    // Projects by name, in the chart's legend and the table alike.
    const nameOf = (id: string | null) => (id ? (names.get(id) ?? id) : 'All');
    summary.series.sort((a, b) => nameOf(a.projectId).localeCompare(nameOf(b.projectId)));
    const started = performance.now();
    plot?.destroy();
    plot = null;
    chart.removeAttribute('aria-busy');
    if (summary.series.length === 0) {
      chart.replaceChildren(empty('No usage in this range.'));
    } else {
      chart.replaceChildren();
      const data = chartData(summary, bucketStarts(`${from.value}T00:00:00Z`, `${to.value}T00:00:00Z`, window.value as UsageWindow, me.organization.timeZone));
      const label = (id: string | null) => (id ? (names.get(id) ?? id) : 'All');
      plot = new uPlot({
        width: Math.max(280, Math.min(1100, chart.clientWidth || 800)),
        height: 280,
        series: [{}, ...summary.series.map((s, i) => ({ label: label(s.projectId), stroke: palette[i % palette.length]!, width: 1.5, spanGaps: false }))],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
      }, data as uPlot.AlignedData, chart);
      chart.dataset['buckets'] = String(data[0].length);
      chart.dataset['renderMs'] = (performance.now() - started).toFixed(1);
    }
    totals.replaceChildren(
      h('table', { class: 'table', id: 'usage-totals' },
        h('caption', {}, `Totals for ${meter.value}`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Project'), h('th', { scope: 'col', class: 'num' }, 'Total'))),
        h('tbody', {}, ...summary.series.map((s) => h('tr', {}, h('td', {}, s.projectId ? (names.get(s.projectId) ?? s.projectId) : 'All'), h('td', { class: 'num', 'data-total': String(s.total ?? '') }, number(s.total))))),
        h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, 'All projects'), h('td', { class: 'num', id: 'usage-total' }, number(summary.total))))),
    );
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void show();
  });
  await show();
}
