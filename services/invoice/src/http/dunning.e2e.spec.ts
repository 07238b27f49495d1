import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import { WebhookReceiver } from '@curbmap/testing';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { SmtpSink } from '../adapters/smtpSink.ts';
import { reminderAt, reminderDue, remindersFor } from '../domain/dunning/dunningSchedule.ts';
import { requestNotification } from '../application/notificationProcess.ts';

let p: TestPlatform;
let sink: SmtpSink;
let receiver: WebhookReceiver;
let hookUrl: string;
let clock: Date;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const DAY = 86_400_000;

beforeEach(async () => {
  // 2027-03-10, Berlin: the due date (net 30) falls after the clocks go forward on 28 March.
  clock = new Date('2027-03-10T15:00:00Z');
  sink = new SmtpSink();
  const smtpUrl = await sink.listen();
  receiver = new WebhookReceiver();
  hookUrl = await receiver.listen();
  p = await startTestPlatform({ now: () => clock, modules: { smtpUrl, webhookAllowPrivateNetworks: true, webhookIntervalMs: 3_600_000, renewalReminderIntervalMs: 3_600_000 } });
});
afterEach(async () => {
  await p.close();
  await sink.close();
  await receiver.close();
});

const call = (method: 'GET' | 'PUT' | 'POST', url: string, headers: Record<string, string>, payload?: unknown) => p.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

/** An organization paying by transfer (the default terms: net 30) with a webhook endpoint for reminders, and its first invoice. */
async function subscribed(name = 'Stadt Köln') {
  const org = await p.createOrganization(name, { timeZone: 'Europe/Berlin', currency: 'EUR' });
  const headers = { authorization: `Bearer ${org.apiKey}` };
  expect((await call('POST', '/v1/webhook-endpoints', headers, { url: hookUrl, events: ['invoice.payment_reminder'] })).statusCode).toBe(201);
  expect((await call('POST', '/v1/subscription', headers, { planId: 'city', seats: 1 })).statusCode).toBe(201);
  await p.settle();
  const [invoice] = (await call('GET', '/v1/invoices', headers)).json().data as { id: string; number: string; dueAt: string; total: number; currency: string }[];
  return { ...org, headers, invoice: invoice! };
}

/** A reminder pass at an instant, the platform's clock moved there (deliveries go when their time has come). */
const remind = (at: Date) => {
  clock = at;
  return p.modules.invoice.notifications!.remindPayments(at);
};

const reminderMails = async () => (await Promise.all(sink.received.map((m) => simpleParser(m.raw)))).filter((m) => m.subject?.includes('Reminder') || m.subject?.includes('Erinnerung'));
const reminderHooks = () => receiver.received.map((r) => JSON.parse(r.body) as { type: string; data: { invoiceId: string; daysFromDue: number } }).filter((b) => b.type === 'invoice.payment_reminder');

describe('dunning: payment reminders on a schedule', () => {
  it('sends each reminder of the default schedule once, at whole local days from the due date, then none once paid', async () => {
    const org = await subscribed();
    const { invoice } = org;
    // Net 30: due at the end of 9 April in Berlin (summer time); each reminder at 09:00 there.
    expect(invoice.dueAt).toBe('2027-04-09T21:59:59.999Z');
    const at = (day: string) => new Date(`${day}T07:00:00.000Z`).toISOString();

    // The dashboard's view: the default schedule, every reminder still to come.
    const before = (await call('GET', '/v1/organization/dunning', org.headers)).json();
    expect(before).toMatchObject({ daysFromDue: [-7, 0, 7, 14], isDefault: true, timeZone: 'Europe/Berlin' });
    expect(before.invoices).toEqual([{ invoiceId: invoice.id, number: invoice.number, currency: 'EUR', amountRemaining: invoice.total, dueAt: invoice.dueAt, reminders: [[-7, '2027-04-02'], [0, '2027-04-09'], [7, '2027-04-16'], [14, '2027-04-23']].map(([d, day]) => ({ daysFromDue: d, at: at(day as string), sentAt: null })) }]);

    // Nothing before a week ahead; then the first reminder, once however often the pass runs.
    expect(await remind(new Date('2027-04-02T06:59:59Z'))).toBe(0);
    const weekBefore = new Date('2027-04-02T07:00:00Z');
    expect(await remind(weekBefore)).toBe(1);
    expect(await remind(weekBefore)).toBe(0);
    expect(await remind(new Date(weekBefore.getTime() + 3_600_000))).toBe(0);
    await p.settle();
    await sink.waitFor(2, 30_000); // the invoice's own mail, then the reminder
    await receiver.waitFor(1, 30_000);
    const [mail] = await reminderMails();
    expect(mail!.subject).toMatch(new RegExp(`^Reminder: invoice ${invoice.number} is due on .*2027$`));
    // A reminder after the due date says it was due (worded from the dates, not the schedule's day).
    expect(mail!.text).toContain('is not yet paid');
    expect(reminderHooks()).toEqual([expect.objectContaining({ data: expect.objectContaining({ invoiceId: invoice.id, daysFromDue: -7, amountRemaining: invoice.total, currency: 'EUR' }) })]);

    // On the due date.
    expect(await remind(new Date('2027-04-09T07:00:00Z'))).toBe(1);
    await p.settle();
    const shown = (await call('GET', '/v1/organization/dunning', org.headers)).json().invoices[0].reminders as { daysFromDue: number; sentAt: string | null }[];
    expect(shown.map((r) => [r.daysFromDue, r.sentAt !== null])).toEqual([[-7, true], [0, true], [7, false], [14, false]]);

    // Paid in full: no reminder after that.
    expect((await call('POST', `/v1/admin/invoices/${invoice.id}/payments`, admin, { amount: invoice.total, currency: 'EUR', reference: 'SEPA-1', receivedAt: new Date(Date.parse(invoice.dueAt) + DAY).toISOString() })).statusCode).toBe(201);
    await p.settle();
    expect(await remind(new Date(Date.parse(invoice.dueAt) + 7 * DAY + 60_000))).toBe(0);
    expect((await call('GET', '/v1/organization/dunning', org.headers)).json().invoices).toEqual([]);
    await receiver.waitFor(2, 30_000);
    await p.settle();
    expect(reminderHooks().map((h) => h.data.daysFromDue)).toEqual([-7, 0]);
  });

  it('follows the schedule the operator sets; only the operator sets it; a late pass sends only the latest fresh reminder', async () => {
    const org = await subscribed();
    const { invoice } = org;
    const url = `/v1/admin/organizations/${org.id}/dunning-schedule`;
    const before = await p.eventCount();
    // Money collection is the operator's: an organization's key cannot set it; bad schedules are refused and write nothing.
    expect((await call('PUT', url, org.headers, { daysFromDue: [] })).statusCode).toBe(401);
    for (const daysFromDue of [[-91], [0, 0], [1.5], Array.from({ length: 11 }, (_, i) => i)]) {
      const res = await call('PUT', url, admin, { daysFromDue });
      expect(res.statusCode, JSON.stringify(daysFromDue)).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect((await call('PUT', `/v1/admin/organizations/00000000-0000-4000-8000-000000000000/dunning-schedule`, admin, { daysFromDue: [3] })).statusCode).toBe(404);
    expect(await p.eventCount()).toBe(before);

    const set = await call('PUT', url, admin, { daysFromDue: [30, 3] });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({ daysFromDue: [3, 30], isDefault: false });
    const once = await p.eventCount();
    expect((await call('PUT', url, admin, { daysFromDue: [3, 30] })).statusCode).toBe(200);
    expect(await p.eventCount()).toBe(once); // the same schedule again writes nothing

    // The default's reminders are gone: nothing on the due date.
    expect(await remind(new Date(Date.parse(invoice.dueAt) + 60_000))).toBe(0);
    // Found 5 days after day 3 (the platform was down): too late, not sent; day 30 goes when it comes.
    expect(await remind(new Date(Date.parse(invoice.dueAt) + 8 * DAY))).toBe(0);
    expect(await remind(new Date(Date.parse(invoice.dueAt) + 31 * DAY))).toBe(1);
    await p.settle();
    const admin_ = (await call('GET', `/v1/admin/organizations/${org.id}/dunning`, admin)).json();
    expect(admin_.invoices[0].reminders.map((r: { daysFromDue: number; sentAt: string | null }) => [r.daysFromDue, r.sentAt !== null])).toEqual([[3, false], [30, true]]);

    // An empty schedule: no reminders at all.
    expect((await call('PUT', url, admin, { daysFromDue: [] })).json()).toEqual({ daysFromDue: [], isDefault: false });
    await p.settle();
    expect(await remind(new Date(Date.parse(invoice.dueAt) + 60 * DAY))).toBe(0);
  });

  it('never reminds of a voided invoice, and one organization sees only its own reminders', async () => {
    const a = await subscribed('Stadt Köln');
    const b = await subscribed('Stadt Bonn');
    expect((await call('POST', `/v1/admin/invoices/${a.invoice.id}/void`, admin, { reason: 'issued in error' })).statusCode).toBe(200);
    await p.settle();
    expect(await remind(new Date(Date.parse(b.invoice.dueAt) - 7 * DAY + 60_000))).toBe(1);
    await p.settle();
    const seenByA = (await call('GET', '/v1/organization/dunning', a.headers)).json();
    const seenByB = (await call('GET', '/v1/organization/dunning', b.headers)).json();
    expect(seenByA.invoices).toEqual([]);
    expect(seenByB.invoices.map((i: { invoiceId: string }) => i.invoiceId)).toEqual([b.invoice.id]);
    // A reminder requested before the void, delivered after it (a retried or parked delivery): neither mailed nor posted.
    const late = { invoiceId: a.invoice.id, number: a.invoice.number, currency: 'EUR', total: a.invoice.total, amountRemaining: a.invoice.total, dueAt: a.invoice.dueAt, daysFromDue: -7 };
    expect(await requestNotification(p.ctx, { commandId: 'late-reminder', now: clock.toISOString(), organizationId: a.id }, 'invoice.payment_reminder', `payment-reminder:${a.invoice.id}:-7`, late)).toBe(true);
    await p.settle();
    await receiver.waitFor(1, 30_000);
    await sink.waitFor(3, 30_000); // two invoices' mails, b's reminder
    await p.settle();
    expect(reminderHooks().map((h) => h.data.invoiceId)).toEqual([b.invoice.id]);
    expect((await reminderMails()).map((m) => m.subject)).toEqual([expect.stringContaining(b.invoice.number)]);
  });
});

describe('reminder times', () => {
  it('go at 09:00 local, whole days of the organization\'s calendar from the due date\'s day, and go stale after three days', () => {
    // Due at the end of 9 April in Berlin (summer time, UTC+2): 09:00 a week before is 07:00 UTC, and two weeks
    // before, 26 March, is still winter time (UTC+1): 08:00 UTC.
    const berlin = '2027-04-09T21:59:59.999Z';
    expect(reminderAt(berlin, -14, 'Europe/Berlin')).toBe('2027-03-26T08:00:00.000Z');
    expect(reminderAt(berlin, -7, 'Europe/Berlin')).toBe('2027-04-02T07:00:00.000Z');
    expect(reminderAt(berlin, 0, 'Europe/Berlin')).toBe('2027-04-09T07:00:00.000Z');
    // The same instant is already 10 April in Tokyo.
    expect(reminderAt(berlin, 0, 'Asia/Tokyo')).toBe('2027-04-10T00:00:00.000Z');
    const due = '2027-04-09T23:59:59.999Z';
    const issued = '2027-03-10T15:00:00.000Z';
    expect(reminderDue([-7, 0], issued, due, 'UTC', new Date('2027-04-02T08:59:59Z'))).toBeNull();
    expect(reminderDue([-7, 0], issued, due, 'UTC', new Date('2027-04-02T09:00:00Z'))).toEqual({ daysFromDue: -7, at: '2027-04-02T09:00:00.000Z' });
    expect(reminderDue([-7, 0], issued, due, 'UTC', new Date('2027-04-09T16:00:00Z'))).toEqual({ daysFromDue: 0, at: '2027-04-09T09:00:00.000Z' });
    // Three days late is still sent; later is not.
    expect(reminderDue([-7], issued, due, 'UTC', new Date('2027-04-05T09:00:00Z'))).toEqual({ daysFromDue: -7, at: '2027-04-02T09:00:00.000Z' });
    expect(reminderDue([-7], issued, due, 'UTC', new Date('2027-04-05T09:00:01Z'))).toBeNull();
    // An invoice issued net 7 has no reminder a week before its due date, nor any before it was issued.
    expect(reminderDue([-7, 0], '2027-04-02T10:00:00.000Z', due, 'UTC', new Date('2027-04-02T11:00:00Z'))).toBeNull();
    expect(remindersFor([-7, 0, 7], '2027-04-02T10:00:00.000Z', due, 'UTC').map((r) => r.daysFromDue)).toEqual([0, 7]);
  });
});
