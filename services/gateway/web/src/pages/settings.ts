import { api, can, type Me } from '../api.ts';
import { announce, empty, h, scrollable } from '../dom.ts';
import { date } from '../format.ts';

interface Key { id: string; name: string; role: string; prefix: string; createdAt: string; revokedAt: string | null }
interface Endpoint { id: string; url: string; events: string[]; status: string; disabledReason: string | null }
interface Delivery { id: string; eventType: string; status: string; attempts: { attempt: number; status: number | null; attemptedAt: string }[] }

const webhookEvents = ['invoice.issued', 'invoice.payment_reminder', 'invoice.overdue', 'payment.received', 'payment.failed', 'subscription.renewal_due', 'quota.threshold_reached', 'export.completed'];

/** API keys (owner), webhook endpoints and their delivery log, invoice branding preview; actions only for roles that may. */
export async function settingsPage(main: HTMLElement, me: Me): Promise<void> {
  const tz = me.organization.timeZone;
  const [keys, endpoints] = await Promise.all([can(me, 'owner') ? api<{ data: Key[] }>('/v1/api-keys') : Promise.resolve(null), api<{ data: Endpoint[] }>('/v1/webhook-endpoints')]);

  const keySection = h('section', { class: 'card', 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, 'API keys'));
  if (!keys) keySection.append(h('p', {}, 'Only the organization\'s owner manages API keys.'));
  else {
    keySection.append(keys.data.length === 0 ? empty('No keys.') : scrollable('API keys', h('table', { class: 'table' }, h('caption', {}, 'Keys (their secrets are never shown again)'),
      h('thead', {}, h('tr', {}, ...['Name', 'Role', 'Prefix', 'Created', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, ...keys.data.map((k) => h('tr', {}, h('td', {}, k.name), h('td', {}, k.role), h('td', {}, h('code', {}, k.prefix)), h('td', {}, date(k.createdAt, tz)),
        h('td', {}, k.revokedAt ? 'revoked' : k.id === me.keyId ? 'this session' : h('button', { type: 'button', class: 'danger', 'data-action': 'revoke-key', onclick: async () => {
          if (!confirm(`Revoke the key ${k.name}? Anything using it stops working.`)) return;
          await api(`/v1/api-keys/${k.id}`, { method: 'DELETE' });
          announce(`Key ${k.name} revoked`);
          await settingsPage(main, me);
        } }, 'Revoke'))))))));
    const name = h('input', { id: 'key-name', required: true, maxlength: 100 });
    const role = h('select', { id: 'key-role' }, ...['read_only', 'member', 'billing_admin', 'owner'].map((r) => h('option', { value: r }, r.replace('_', ' '))));
    const shown = h('p', { role: 'status' });
    const form = h('form', { class: 'controls', 'aria-label': 'Issue an API key', 'data-action': 'issue-key' }, h('label', { for: 'key-name' }, 'Name'), name, h('label', { for: 'key-role' }, 'Role'), role, h('button', { type: 'submit' }, 'Issue key'), shown);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const issued = await api<{ key: string }>('/v1/api-keys', { method: 'POST', body: { name: name.value.trim(), role: role.value } });
      shown.replaceChildren('New key (shown once, copy it now): ', h('code', { class: 'secret' }, issued.key));
    });
    keySection.append(form);
  }

  const hookSection = h('section', { class: 'card', 'aria-labelledby': 'hooks-title' }, h('h2', { id: 'hooks-title' }, 'Webhook endpoints'));
  hookSection.append(endpoints.data.length === 0 ? empty('No webhook endpoints.') : h('ul', { class: 'endpoints' }, ...endpoints.data.map((e) => {
    const log = h('div', {});
    const show = h('button', { type: 'button', class: 'link', onclick: async () => {
      const deliveries = await api<{ data: Delivery[] }>(`/v1/webhook-endpoints/${e.id}/deliveries?limit=20`);
      log.replaceChildren(deliveries.data.length === 0 ? empty('Nothing sent yet.') : scrollable('Delivery log', h('table', { class: 'table' }, h('caption', {}, `Deliveries to ${e.url}`),
        h('thead', {}, h('tr', {}, ...['Event', 'Status', 'Attempts', 'Last'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...deliveries.data.map((d) => h('tr', {}, h('td', {}, d.eventType), h('td', {}, d.status), h('td', {}, d.attempts.map((a) => a.status ?? 'no answer').join(', ')), h('td', {}, date(d.attempts.at(-1)?.attemptedAt, tz))))))));
    } }, 'Delivery log');
    return h('li', {}, h('code', {}, e.url), ` ${e.status}${e.disabledReason ? ` (${e.disabledReason})` : ''} — ${e.events.join(', ')} `, show, log);
  })));
  if (can(me, 'billing_admin')) {
    const url = h('input', { id: 'hook-url', type: 'url', required: true, placeholder: 'https://…' });
    const boxes = webhookEvents.map((ev) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: ev, checked: true }), ` ${ev}`));
    const shown = h('p', { role: 'status' });
    const form = h('form', { class: 'stack', 'aria-label': 'Add a webhook endpoint', 'data-action': 'add-endpoint' }, h('label', { for: 'hook-url' }, 'Endpoint URL'), url, h('fieldset', {}, h('legend', {}, 'Events'), ...boxes), h('button', { type: 'submit' }, 'Add endpoint'), shown);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const events = boxes.map((b) => b.querySelector('input')!).filter((i) => i.checked).map((i) => i.value);
      try {
        const created = await api<{ secret: string }>('/v1/webhook-endpoints', { method: 'POST', body: { url: url.value, events } });
        shown.replaceChildren('Signing secret (shown once): ', h('code', { class: 'secret' }, created.secret));
      } catch (err) {
        shown.textContent = err instanceof Error ? err.message : String(err);
      }
    });
    hookSection.append(form);
  }

  const preview = h('iframe', { src: '/v1/invoice-template/preview', title: 'Preview of an invoice with your branding', class: 'preview', sandbox: '' });
  const branding = h('section', { class: 'card', 'aria-labelledby': 'brand-title' }, h('h2', { id: 'brand-title' }, 'Invoice branding'));
  if (can(me, 'billing_admin')) {
    const current = (await api<{ branding: { primaryColor: string; footer: string | null; logoUrl: string | null } }>('/v1/invoice-template')).branding;
    const colour = h('input', { id: 'brand-colour', type: 'color', value: current.primaryColor });
    const footer = h('input', { id: 'brand-footer', type: 'text', maxlength: 1000, value: current.footer ?? '', size: 40 });
    const result = h('p', { role: 'status' });
    const form = h('form', { class: 'controls', 'aria-label': 'Invoice branding', 'data-action': 'set-branding' },
      h('label', { for: 'brand-colour' }, 'Colour'), colour, h('label', { for: 'brand-footer' }, 'Footer'), footer, h('button', { type: 'submit' }, 'Save branding'), result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api('/v1/invoice-template', { method: 'PUT', body: { branding: { primaryColor: colour.value, footer: footer.value.trim() || null } } });
        result.textContent = 'Saved: new invoices use it.';
        preview.setAttribute('src', `/v1/invoice-template/preview?v=${Date.now()}`);
      } catch (err) {
        result.textContent = err instanceof Error ? err.message : String(err);
      }
    });
    branding.append(form);
  }
  branding.append(preview);
  main.replaceChildren(h('h1', {}, 'Settings'), keySection, hookSection, branding);
}
