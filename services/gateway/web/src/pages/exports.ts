import { api, can, type Me } from '../api.ts';
import { announce, empty, h, scrollable } from '../dom.ts';
import { date, number } from '../format.ts';

interface Job { id: string; status: string; request: { dataset: string; format: string; projectId: string | null; cdsVersion?: string }; rowsDone?: number; rowsTotal?: number | null; createdAt?: string; requestedAt?: string }
interface Project { id: string; name: string }
interface Schedule { id: string; cron: string; timeZone: string; export: { dataset: string; format: string }; nextRunAt: string | null }

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
    list.replaceChildren(data.length === 0 ? empty('No exports yet.') : scrollable('Recent exports', h('table', { class: 'table' }, h('caption', {}, 'Recent exports'),
      h('thead', {}, h('tr', {}, ...['Dataset', 'Format', 'Status', 'Requested', 'File'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...data.map((j) => h('tr', {}, h('td', {}, j.request.dataset), h('td', {}, j.request.format), h('td', {}, j.status), h('td', {}, date(j.requestedAt ?? j.createdAt, me.organization.timeZone)),
        h('td', {}, j.status === 'completed' ? h('a', { href: `/v1/exports/${j.id}/download`, 'aria-label': `Download the ${j.request.dataset} export` }, 'Download') : '')))))));
  renderList(jobs.data);
  refreshList = async () => renderList((await api<{ data: Job[] }>('/v1/exports?limit=20')).data);
  const scheduleList = h('div', {});
  const renderSchedules = (data: Schedule[]) =>
    scheduleList.replaceChildren(data.length === 0 ? empty('No scheduled exports.') : h('ul', { class: 'schedules' }, ...data.map((s) => h('li', {},
      `${s.export.dataset} as ${s.export.format}: “${s.cron}” (${s.timeZone}), next ${date(s.nextRunAt, s.timeZone)} `,
      can(me, 'member') ? h('button', { type: 'button', class: 'link', 'data-action': 'delete-schedule', 'aria-label': `Delete the schedule ${s.cron} for ${s.export.dataset}`, onclick: async () => {
        await api(`/v1/export-schedules/${s.id}`, { method: 'DELETE' });
        announce('Schedule deleted');
        renderSchedules((await api<{ data: Schedule[] }>('/v1/export-schedules')).data);
      } }, 'Delete') : null))));
  renderSchedules(schedules.data);
  const scheduleForm = h('form', { class: 'controls', 'aria-label': 'Schedule an export', hidden: true });
  if (can(me, 'member')) {
    scheduleForm.hidden = false;
    scheduleForm.dataset['action'] = 'add-schedule';
    const cron = h('input', { id: 'schedule-cron', required: true, value: '0 6 * * 1', 'aria-describedby': 'cron-hint', size: 14 });
    const zone = h('input', { id: 'schedule-zone', required: true, value: me.organization.timeZone, size: 18 });
    const sDataset = h('select', { id: 'schedule-dataset' }, ...datasets.map((d) => h('option', { value: d }, d)));
    const sFormat = h('select', { id: 'schedule-format' }, ...formats.map((f) => h('option', { value: f }, f === 'cds' ? 'CDS' : f.toUpperCase())));
    const result = h('p', { role: 'status' });
    scheduleForm.append(h('label', { for: 'schedule-cron' }, 'Cron'), cron, h('label', { for: 'schedule-zone' }, 'Time zone'), zone,
      h('label', { for: 'schedule-dataset' }, 'Dataset'), sDataset, h('label', { for: 'schedule-format' }, 'Format'), sFormat,
      h('button', { type: 'submit' }, 'Add schedule'), h('span', { id: 'cron-hint', class: 'hint' }, 'minute hour day month weekday, e.g. 0 6 * * 1 = Mondays 06:00'), result);
    scheduleForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api('/v1/export-schedules', { method: 'POST', body: { cron: cron.value.trim(), timeZone: zone.value.trim(), export: { dataset: sDataset.value, format: sFormat.value } } });
        result.textContent = 'Schedule added.';
        renderSchedules((await api<{ data: Schedule[] }>('/v1/export-schedules')).data);
      } catch (err) {
        result.textContent = err instanceof Error ? err.message : String(err);
      }
    });
  }
  main.replaceChildren(h('h1', {}, 'Exports'), form, progress, progressText, download, list, h('h2', {}, 'Schedules'), scheduleList, scheduleForm);
}
