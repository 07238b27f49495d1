import { api, can, type Me } from '../api.ts';
import { announce, empty, h, scrollable } from '../dom.ts';
import { date, money } from '../format.ts';

interface RemittanceDetails { remittance: string; payTo: { label: string; value: string }[] | null }
interface Invoice { id: string; number: string; status: string; currency: string; total: number; amountRemaining: number; issuedAt: string; dueAt: string | null; poNumber: string | null; creditNotes?: { number: string; amount: number; reason: string }[] }

/**
 * Invoices with status and amounts, the PDF, credit notes, and a remittance-advice form: the customer says it
 * sent a transfer; money received is recorded by the operator, never from this page.
 */
export async function invoicesPage(main: HTMLElement, me: Me): Promise<void> {
  const tz = me.organization.timeZone;
  const [{ data }, details] = await Promise.all([api<{ data: Invoice[] }>('/v1/invoices?limit=100'), api<RemittanceDetails>('/v1/remittance-details')]);
  const rows = data.map((i) =>
    h('tr', {},
      h('th', { scope: 'row' }, i.number),
      h('td', {}, h('span', { class: `badge ${i.status}` }, i.status.replace('_', ' '))),
      h('td', {}, date(i.issuedAt, tz)),
      h('td', {}, date(i.dueAt, tz)),
      h('td', { class: 'num' }, money(i.total, i.currency)),
      h('td', { class: 'num' }, money(i.amountRemaining, i.currency)),
      h('td', {}, h('a', { href: `/v1/invoices/${i.id}/pdf`, target: '_blank', rel: 'noopener', 'aria-label': `PDF of invoice ${i.number}` }, 'PDF'),
        ...(i.creditNotes ?? []).map((n) => h('div', { class: 'hint' }, `${n.number}: −${money(n.amount, i.currency)} (${n.reason})`))),
    ));
  const table = data.length === 0 ? empty('No invoices yet.') : scrollable('Invoices', h('table', { class: 'table' }, h('caption', {}, 'Invoices, newest first'),
    h('thead', {}, h('tr', {}, ...['Number', 'Status', 'Issued', 'Due', 'Total', 'Remaining', 'Documents'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, ...rows)));
  const open = data.filter((i) => i.amountRemaining > 0 && (i.status === 'open' || i.status === 'partially_paid'));
  const remittance = h('section', { class: 'card', 'aria-labelledby': 'remit-title' },
    h('h2', { id: 'remit-title' }, 'Remittance'),
    h('p', {}, `${details.remittance}. Tell us when you have sent a transfer; it is matched when the money arrives.`),
    details.payTo
      ? h('table', { class: 'table', id: 'pay-to' }, h('caption', {}, 'Pay by bank transfer to'), h('tbody', {}, ...details.payTo.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.label), h('td', {}, r.value)))))
      : h('p', { class: 'hint' }, 'The bank account to pay into has not been published here: ask billing support for it.'));
  if (open.length > 0 && can(me, 'billing_admin')) {
    const invoice = h('select', { id: 'remit-invoice', required: true }, ...open.map((i) => h('option', { value: i.id }, `${i.number} (${money(i.amountRemaining, i.currency)})`)));
    const amount = h('input', { id: 'remit-amount', type: 'text', inputmode: 'decimal', required: true, placeholder: '0.00' });
    const reference = h('input', { id: 'remit-reference', type: 'text', required: true, maxlength: 140 });
    const sentAt = h('input', { id: 'remit-date', type: 'date', required: true, value: new Date().toISOString().slice(0, 10) });
    const result = h('p', { role: 'status' });
    const form = h('form', { class: 'stack', 'aria-label': 'Remittance advice' },
      h('label', { for: 'remit-invoice' }, 'Invoice'), invoice,
      h('label', { for: 'remit-amount' }, 'Amount sent'), amount,
      h('label', { for: 'remit-reference' }, 'Transfer reference'), reference,
      h('label', { for: 'remit-date' }, 'Sent on'), sentAt,
      h('button', { type: 'submit' }, 'Send remittance advice'), result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const chosen = open.find((i) => i.id === invoice.value)!;
      const exponent = new Intl.NumberFormat('en', { style: 'currency', currency: chosen.currency }).resolvedOptions().maximumFractionDigits ?? 2;
      const match = /^(\d+)(?:[.,](\d+))?$/.exec(amount.value.trim());
      if (!match || (match[2]?.length ?? 0) > exponent) {
        result.textContent = `Enter the amount in ${chosen.currency}, with at most ${exponent} decimals.`;
        return;
      }
      const minor = Number(match[1]) * 10 ** exponent + Number((match[2] ?? '').padEnd(exponent, '0') || 0);
      try {
        await api(`/v1/invoices/${chosen.id}/remittance-advice`, { method: 'POST', body: { amount: minor, reference: reference.value.trim(), sentAt: `${sentAt.value}T12:00:00Z` } });
        result.textContent = 'Thank you: your remittance advice was sent.';
        announce(result.textContent);
      } catch (err) {
        result.textContent = err instanceof Error ? err.message : String(err);
      }
    });
    remittance.append(form);
  }
  main.replaceChildren(h('h1', {}, 'Invoices'), table, remittance);
}
