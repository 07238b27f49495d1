import { api, can, type Me } from '../api.ts';
import { announce, empty, h, scrollable } from '../dom.ts';
import { date, money } from '../format.ts';

interface Dunning { daysFromDue: number[]; isDefault: boolean; invoices: { invoiceId: string; number: string; currency: string; amountRemaining: number; dueAt: string; reminders: { daysFromDue: number; at: string; sentAt: string | null }[] }[] }
interface RemittanceDetails { remittance: string; payTo: { label: string; value: string }[] | null }
interface Invoice { id: string; number: string; status: string; currency: string; total: number; amountRemaining: number; issuedAt: string; dueAt: string | null; poNumber: string | null; creditNotes?: { number: string; amount: number; reason: string }[] }

/**
 * Invoices with status and amounts, the PDF, credit notes, and a remittance-advice form: the customer says it
 * sent a transfer; money received is recorded by the operator, never from this page.
 */
export async function invoicesPage(main: HTMLElement, me: Me): Promise<void> {
  const tz = me.organization.timeZone;
  const [{ data }, details, dunning] = await Promise.all([api<{ data: Invoice[] }>('/v1/invoices?limit=100'), api<RemittanceDetails>('/v1/remittance-details'), api<Dunning>('/v1/organization/dunning').catch(() => null)]);
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
  // The reminders are a part of the page: without them (a service that does not answer), the invoices still show.
  main.replaceChildren(h('h1', {}, 'Invoices'), table, ...(dunning ? [remindersSection(dunning, tz)] : []), remittance);
}

const dayWord = (d: number) => (d === 0 ? 'on the due date' : `${Math.abs(d)} day${Math.abs(d) === 1 ? '' : 's'} ${d < 0 ? 'before' : 'after'}`);

/** The reminder schedule the operator set (or the default), and each unpaid transfer invoice's reminders. */
function remindersSection(dunning: Dunning, tz: string): HTMLElement {
  const schedule = dunning.daysFromDue.length === 0 ? 'No payment reminders are sent.' : `Unpaid invoices paid by transfer are reminded of by e-mail and webhook ${dunning.daysFromDue.map(dayWord).join(', ')}${dunning.isDefault ? ' (the default schedule)' : ''}.`;
  const rows = dunning.invoices.flatMap((i) =>
    i.reminders.map((r, n) =>
      h('tr', {},
        n === 0 ? h('th', { scope: 'row', rowspan: String(i.reminders.length) }, `${i.number} (${money(i.amountRemaining, i.currency)}, due ${date(i.dueAt, tz)})`) : null,
        h('td', {}, dayWord(r.daysFromDue)),
        h('td', {}, date(r.at, tz)),
        h('td', {}, r.sentAt ? h('span', { class: 'badge paid' }, `sent ${date(r.sentAt, tz)}`) : Date.parse(r.at) < Date.now() ? h('span', { class: 'badge' }, 'not sent') : h('span', { class: 'badge open' }, 'scheduled')),
      )));
  return h('section', { class: 'card', 'aria-labelledby': 'reminders-title' },
    h('h2', { id: 'reminders-title' }, 'Payment reminders'),
    h('p', {}, schedule),
    rows.length === 0 ? empty('No unpaid invoice to remind of.') : scrollable('Payment reminders', h('table', { class: 'table', id: 'reminders' }, h('caption', {}, 'Reminders of unpaid invoices'),
      h('thead', {}, h('tr', {}, ...['Invoice', 'When', 'Date', 'Status'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, ...rows))));
}
