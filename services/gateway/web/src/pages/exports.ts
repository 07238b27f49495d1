import { api, can, type Me } from '../api.ts';
import { announce, empty, h } from '../dom.ts';
import { date, number } from '../format.ts';

interface Job { id: string; status: string; request: { dataset: string; format: string; projectId: string | null; cdsVersion?: string }; rowsDone?: number; rowsTotal?: number | null; createdAt?: string; requestedAt?: string }
interface Project { id: string; name: string }
interface Schedule { id: string; cron: string; timeZone: string; request: { dataset: string; format: string } }

const datasets = ['zones', 'areas', 'spaces', 'objects', 'policies', 'events', 'sessions', 'aggregates', 'usage', 'invoices', 'payments'];
const formats = ['cds', 'json', 'ndjson', 'csv'];

/** Start an export, watch its progress live (server-sent events) to the end, download it; the schedules. */
export async function exportsPage(main: HTMLElement, me: Me): Promise<void> {
  const [jobs, projects, schedules] = await Promise.all([
    api<{ data: Job[] }>('/v1/exports?limit=20'),
    api<{ data: Project[] }>('/v1/projects').catch(() => ({ data: [] as Project[] })),
    api<{ data: Schedule[] }>('/v1/export-schedules').catch(() => ({ data: [] as Schedule[] })),
  ]);
  const dataset = h('select', { id: 'dataset' }, ...datasets.map((d) => h('option', { value: d }, d)));
  const format = h('select', { id: 'format' }, ...formats.map((f) => h('option', { value: f }, f === 'cds' ? 'CDS' : f.toUpperCase())));
  const project = h('select', { id: 'project' }, h('option', { value: '' }, 'All projects'), ...projects.data.map((p) => h('option', { value: p.id }, p.name)));
  const version = h('select', { id: 'cds-version' }, h('option', { value: '1.1' }, 'CDS 1.1'), h('option', { value: '1.0' }, 'CDS 1.0'));
  const progress = h('progress', { id: 'export-progress', max: 100, value: 0, 'aria-label': 'Export progress', hidden: true });
  const progressText = h('p', { id: 'export-progress-text', role: 'status' });
  const download = h('a', { id: 'export-download', class: 'button', hidden: true }, 'Download');
  const form = h('form', { class: 'controls', 'aria-label': 'Start an export' },
    h('label', { for: 'dataset' }, 'Dataset'), dataset, h('label', { for: 'format' }, 'Format'), format,
    h('label', { for: 'project' }, 'Project'), project, h('label', { for: 'cds-version' }, 'CDS version'), version,
    h('button', { type: 'submit', disabled: !can(me, 'member') }, 'Start export'));
  let refreshList = async () => {};
  const watch = (id: string) => {
    progress.hidden = false;
    download.hidden = true;
    const events = new EventSource(`/v1/exports/${id}/events`);
    const update = (e: MessageEvent) => {
      const job = JSON.parse(e.data as string) as { status: string; rowsDone?: number; rowsTotal?: number | null; progress?: { rowsDone: number; rowsTotal: number | null } };
      const done = job.progress?.rowsDone ?? job.rowsDone ?? 0;
      const total = job.progress?.rowsTotal ?? job.rowsTotal ?? null;
      const pct = job.status === 'completed' ? 100 : total ? Math.floor((done / Math.max(total, 1)) * 100) : 0;
      progress.value = pct;
      progressText.textContent = `${job.status}: ${pct} % (${number(done)}${total !== null ? ` of ${number(total)}` : ''} rows)`;
      if (job.status === 'completed' || job.status === 'failed' || job.status === 'expired') {
        events.close();
        if (job.status === 'completed') {
          download.setAttribute('href', `/v1/exports/${id}/download`);
          download.hidden = false;
        }
        announce(progressText.textContent);
        void refreshList();
      }
    };
    for (const type of ['progress', 'completed', 'failed', 'expired']) events.addEventListener(type, update as EventListener);
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED) progressText.textContent ||= 'The progress stream closed.';
    };
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body: Record<string, unknown> = { dataset: dataset.value, format: format.value };
    if (project.value) body['projectId'] = project.value;
    if (format.value === 'cds') body['cdsVersion'] = version.value;
    try {
      const job = await api<{ id: string }>('/v1/exports', { method: 'POST', body });
      progressText.textContent = 'requested: 0 %';
      watch(job.id);
    } catch (err) {
      progressText.textContent = err instanceof Error ? err.message : String(err);
    }
  });
  const list = h('div', {});
  const renderList = (data: Job[]) =>
    list.replaceChildren(data.length === 0 ? empty('No exports yet.') : h('table', { class: 'table' }, h('caption', {}, 'Recent exports'),
      h('thead', {}, h('tr', {}, ...['Dataset', 'Format', 'Status', 'Requested', 'File'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...data.map((j) => h('tr', {}, h('td', {}, j.request.dataset), h('td', {}, j.request.format), h('td', {}, j.status), h('td', {}, date(j.requestedAt ?? j.createdAt, me.organization.timeZone)),
        h('td', {}, j.status === 'completed' ? h('a', { href: `/v1/exports/${j.id}/download`, 'aria-label': `Download the ${j.request.dataset} export` }, 'Download') : ''))))));
  renderList(jobs.data);
  refreshList = async () => renderList((await api<{ data: Job[] }>('/v1/exports?limit=20')).data);
  const scheduleList = schedules.data.length === 0 ? empty('No scheduled exports.') : h('ul', {}, ...schedules.data.map((s) => h('li', {}, `${s.request.dataset} as ${s.request.format}: ${s.cron} (${s.timeZone})`)));
  main.replaceChildren(h('h1', {}, 'Exports'), form, progress, progressText, download, list, h('h2', {}, 'Schedules'), scheduleList);
}
