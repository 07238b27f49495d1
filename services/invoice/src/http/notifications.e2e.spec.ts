import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { simpleParser } from 'mailparser';
import { Webhook } from 'standardwebhooks';
import { WebhookReceiver } from '@curbmap/testing';
import { startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { SmtpSink } from '../adapters/smtpSink.ts';
import { chromiumPath } from '../adapters/chromiumPdfRenderer.ts';
import { requestNotification } from '../application/notificationProcess.ts';

let p: TestPlatform;
let sink: SmtpSink;
let receiver: WebhookReceiver;
let hookUrl: string;
let clock: Date;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

beforeEach(async () => {
  clock = new Date('2027-03-10T15:00:00Z');
  sink = new SmtpSink();
  const smtpUrl = await sink.listen();
  receiver = new WebhookReceiver();
  hookUrl = await receiver.listen();
  p = await startTestPlatform({ now: () => clock, modules: { smtpUrl, mailReplyTo: 'ar@curbmap.example', webhookAllowPrivateNetworks: true, webhookIntervalMs: 3_600_000 } });
});
afterEach(async () => {
  await p.close();
  await sink.close();
  await receiver.close();
});

/** Standard Webhooks' verifier, as a receiver whose clock reads the time the message was sent (tests run in 2027). */
function verify(secret: string, received: { body: string; headers: Record<string, unknown> }): unknown {
  vi.useFakeTimers({ toFake: ['Date'] });
  try {
    vi.setSystemTime(Number(received.headers['webhook-timestamp']) * 1000);
    return new Webhook(secret).verify(received.body, received.headers as Record<string, string>);
  } finally {
    vi.useRealTimers();
  }
}

const mailTexts = async () => Promise.all(sink.received.map(async (m) => (await simpleParser(m.raw)).text ?? ''));

async function organization(locale = 'de-DE') {
  const org = await p.createOrganization('Stadt Köln', { timeZone: 'Europe/Berlin', currency: 'EUR' });
  const headers = { authorization: `Bearer ${org.apiKey}` };
  const res = await p.app.inject({ method: 'PUT', url: '/v1/organization/billing-details', headers, payload: { legalName: 'Stadt Köln', addressLines: ['Willy-Brandt-Platz 2', '50679 Köln'], country: 'DE', taxId: 'DE123456789', locale } });
  expect(res.statusCode, res.body).toBe(200);
  return { ...org, headers };
}

async function endpoint(headers: Record<string, string>, events: string[], url = hookUrl) {
  const res = await p.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers, payload: { url, events } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; secret: string; url: string };
}

describe('notifications by e-mail and webhook', () => {
  it.skipIf(!chromiumPath())('an issued invoice is mailed with its PDF, in the organization\'s language, and posted signed to the endpoint; a payment too', async () => {
    const org = await organization('de-DE');
    const hook = await endpoint(org.headers, ['invoice.issued', 'payment.received']);
    expect(hook.secret).toMatch(/^whsec_/);
    // The secret is shown once: never in a read.
    expect((await p.app.inject({ url: `/v1/webhook-endpoints/${hook.id}`, headers: org.headers })).json()).not.toHaveProperty('secret');

    expect((await p.app.inject({ method: 'POST', url: '/v1/subscription', headers: org.headers, payload: { planId: 'city', seats: 2 } })).statusCode).toBe(201);
    const [raw] = await sink.waitFor(1, 30_000);
    const mail = await simpleParser(raw!.raw);
    const [invoice] = (await p.app.inject({ url: '/v1/invoices', headers: org.headers })).json().data as { id: string; number: string; total: number }[];
    expect(raw!.to).toEqual(['ap@springfield.example']);
    expect(mail.subject).toBe(`Rechnung ${invoice!.number} von CurbMap`);
    expect(mail.replyTo?.text).toBe('ar@curbmap.example');
    expect(mail.headers.get('content-language')).toBe('de');
    expect(mail.text).toContain('fällig');
    expect(mail.attachments.map((a) => a.filename)).toEqual([`${invoice!.number}.pdf`]);
    expect(mail.attachments[0]!.content.subarray(0, 5).toString()).toBe('%PDF-');
    // The attachment is the invoice's PDF, stored once: the API serves the same bytes.
    const pdf = await p.app.inject({ url: `/v1/invoices/${invoice!.id}/pdf`, headers: org.headers });
    expect(Buffer.compare(pdf.rawPayload, mail.attachments[0]!.content)).toBe(0);

    const [issued] = await receiver.waitFor(1);
    // Standard Webhooks' own verifier accepts the signature with the secret shown at creation.
    const payload = verify(hook.secret, issued!) as { type: string; data: { number: string; total: number } };
    expect(payload).toMatchObject({ type: 'invoice.issued', data: { number: invoice!.number, total: invoice!.total } });
    expect(() => verify(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, issued!)).toThrow(/signature/);

    const paid = await p.app.inject({ method: 'POST', url: `/v1/admin/invoices/${invoice!.id}/payments`, headers: admin, payload: { amount: invoice!.total, currency: 'EUR', reference: 'SEPA-1', receivedAt: '2027-03-11T09:00:00Z' } });
    expect(paid.statusCode, paid.body).toBe(201);
    const mails = await sink.waitFor(2);
    expect((await simpleParser(mails[1]!.raw)).subject).toMatch(/^Zahlung erhalten: .*€$/);
    const [, received] = await receiver.waitFor(2);
    expect(JSON.parse(received!.body)).toMatchObject({ type: 'payment.received', data: { invoiceId: invoice!.id, invoiceNumber: invoice!.number, amount: invoice!.total } });
    // The delivery log shows each message with its attempt.
    const log = (await p.app.inject({ url: `/v1/webhook-endpoints/${hook.id}/deliveries`, headers: org.headers })).json().data as { eventType: string; status: string; attempts: { status: number }[] }[];
    expect(log.map((m) => [m.eventType, m.status, m.attempts.map((a) => a.status)])).toEqual(expect.arrayContaining([['invoice.issued', 'delivered', [200]], ['payment.received', 'delivered', [200]]]));
  });

  it('is sent once per cause, however often the cause is delivered', async () => {
    const org = await organization('en-US');
    await endpoint(org.headers, ['quota.threshold_reached']);
    const cause = '5a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
    const data = { meter: 'api_requests', threshold: 80, use: 800_000, included: 1_000_000, periodStart: '2027-01-01T00:00:00.000Z', periodEnd: '2028-01-01T00:00:00.000Z' };
    const meta = { commandId: `notify:${cause}`, now: clock.toISOString(), organizationId: org.id };
    expect(await requestNotification(p.ctx, meta, 'quota.threshold_reached', cause, data)).toBe(true);
    expect(await requestNotification(p.ctx, meta, 'quota.threshold_reached', cause, data)).toBe(false);
    await sink.waitFor(1);
    await receiver.waitFor(1);
    await p.settle();
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.received).toHaveLength(1);
    expect(receiver.received).toHaveLength(1);
    expect((await simpleParser(sink.received[0]!.raw)).subject).toBe('80% of your included api_requests used');
  });

  it('tells of a failed payment, with the reason', async () => {
    const org = await organization('fr-FR');
    await endpoint(org.headers, ['payment.failed']);
    const id = '5a1c2a52-3b7e-4f43-9a51-0f2b8f3e7a77';
    const failed = { paymentId: 'pi_declined', invoiceId: null, amount: 123_456, currency: 'EUR', method: 'card', reference: null, receivedAt: clock.toISOString(), provider: 'stripe', providerPaymentId: 'pi_declined', failureMessage: 'Your card was declined.' };
    await p.ctx.store.append('payment-pi_declined', [{ id, type: 'billing.payment.failed', data: failed, occurredAt: clock.toISOString(), organizationId: org.id, correlationId: id, causationId: id }], { expectedVersion: 'any' });
    const [mail] = await sink.waitFor(1);
    const parsed = await simpleParser(mail!.raw);
    expect(parsed.subject).toBe('Échec du paiement de 1\u202f234,56\u00a0€');
    expect(parsed.text).toContain('Your card was declined.');
    const [hook] = await receiver.waitFor(1);
    expect(JSON.parse(hook!.body)).toMatchObject({ type: 'payment.failed', data: { paymentId: 'pi_declined', amount: 123_456, currency: 'EUR', failureMessage: 'Your card was declined.' } });
  });

  it('retries on the standard\'s schedule honouring Retry-After, logs every attempt with one webhook-id, and redelivers on request', async () => {
    const org = await organization('en-US');
    const hook = await endpoint(org.headers, ['export.completed']);
    const statuses = [503, 429, 200, 200];
    receiver.answer = () => {
      const status = statuses.shift() ?? 200;
      return { status, headers: status === 429 ? { 'retry-after': '600' } : ({} as Record<string, string>) };
    };
    const meta = { commandId: 'notify:x', now: clock.toISOString(), organizationId: org.id };
    await requestNotification(p.ctx, meta, 'export.completed', 'export-1', { exportId: 'e1', rows: 3 });
    await receiver.waitFor(1); // sent at once
    const t0 = clock.getTime();
    const tick = async (ms: number) => {
      clock = new Date(t0 + ms);
      return p.modules.invoice.webhooks!.tick(clock);
    };
    expect(await tick(4_000)).toMatchObject({ attempted: 0 });
    expect(await tick(5_000)).toMatchObject({ attempted: 1, delivered: 0 }); // 429, Retry-After 600 s
    await p.settle();
    expect(await tick(5_000 + 300_000)).toMatchObject({ attempted: 0 }); // the schedule's 5 min is not enough
    expect(await tick(5_000 + 600_000)).toMatchObject({ attempted: 1, delivered: 1 });
    await p.settle();
    const [message] = (await p.app.inject({ url: `/v1/webhook-endpoints/${hook.id}/deliveries`, headers: org.headers })).json().data as { id: string; status: string; attempts: { attempt: number; status: number; attemptedAt: string }[] }[];
    expect(message!.status).toBe('delivered');
    expect(message!.attempts.map((a) => [a.attempt, a.status])).toEqual([[1, 503], [2, 429], [3, 200]]);
    expect(message!.attempts.map((a) => a.attemptedAt)).toEqual([new Date(t0).toISOString(), new Date(t0 + 5_000).toISOString(), new Date(t0 + 605_000).toISOString()]);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([message!.id]));

    const again = await p.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${hook.id}/deliveries/${message!.id}/redeliver`, headers: org.headers });
    expect(again.statusCode, again.body).toBe(202);
    await receiver.waitFor(4);
    expect(receiver.received[3]!.headers['webhook-id']).toBe(message!.id);
    // Another organization sees neither the endpoint nor its log.
    const other = await p.createOrganization('Shelbyville');
    const otherKey = { authorization: `Bearer ${other.apiKey}` };
    expect((await p.app.inject({ url: `/v1/webhook-endpoints/${hook.id}/deliveries`, headers: otherKey })).statusCode).toBe(404);
    expect((await p.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${hook.id}/deliveries/${message!.id}/redeliver`, headers: otherKey })).statusCode).toBe(404);
    expect((await p.app.inject({ url: '/v1/webhook-endpoints', headers: otherKey })).json().data).toEqual([]);
  });

  it('disables an endpoint that answers 410, or that failed for 5 days, and tells the organization by e-mail', async () => {
    const org = await organization('en-US');
    const gone = await endpoint(org.headers, ['export.completed']);
    const failing = await endpoint(org.headers, ['quota.threshold_reached'], hookUrl.replace('/hooks', '/failing'));
    receiver.answer = () => ({ status: 410 });
    const notify = async (kind: 'export.completed' | 'quota.threshold_reached', cause: string) => {
      const now = clock.toISOString();
      await requestNotification(p.ctx, { commandId: `notify:${cause}`, now, organizationId: org.id }, kind, cause, { threshold: 80, meter: 'api_requests', use: 8, included: 10 });
    };
    // 410 from the first: disabled at once, no retry.
    await notify('export.completed', 'c1');
    await receiver.waitFor(1);
    await p.settle();
    await expect.poll(async () => (await p.app.inject({ url: `/v1/webhook-endpoints/${gone.id}`, headers: org.headers })).json().status).toBe('disabled');
    await sink.waitFor(2); // the export's notification, and the endpoint's
    expect((await mailTexts()).filter((t) => t.includes(`We disabled your webhook endpoint ${gone.url}: it answered 410 Gone`))).toHaveLength(1);

    // The other fails (500) on every attempt: after 5 days of failures it is disabled too.
    receiver.answer = () => ({ status: 500 });
    await notify('quota.threshold_reached', 'c2');
    await receiver.waitFor(2);
    await p.settle();
    const t0 = clock.getTime();
    // Attempts on time (never a day late: the platform never away), failing every one.
    for (const hours of [1, 3, 6, 24, 48, 72, 96, 119]) {
      clock = new Date(t0 + hours * 3_600_000);
      await p.modules.invoice.webhooks!.tick(clock);
      await p.settle();
    }
    expect((await p.app.inject({ url: `/v1/webhook-endpoints/${failing.id}`, headers: org.headers })).json().status).toBe('enabled');
    clock = new Date(t0 + 5 * 86_400_000 + 60_000);
    await notify('quota.threshold_reached', 'c3');
    await p.settle();
    await expect.poll(async () => (await p.app.inject({ url: `/v1/webhook-endpoints/${failing.id}`, headers: org.headers })).json()).toMatchObject({ status: 'disabled', disabledReason: 'every delivery failed for 5 days' });
    await sink.waitFor(5); // and two quota notifications, and the endpoint's
    expect((await mailTexts()).filter((t) => t.includes(`We disabled your webhook endpoint ${failing.url}: every delivery failed for 5 days`))).toHaveLength(1);
    // Enabled again, a missed message can be redelivered.
    expect((await p.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${failing.id}/enable`, headers: org.headers })).json().status).toBe('enabled');
  });

  it('disables no endpoint while catching up after the platform was away: the attempts being caught up may yet succeed', async () => {
    const org = await organization('en-US');
    const flaky = await endpoint(org.headers, ['quota.threshold_reached']);
    const t0 = clock.getTime();
    const status = async () => (await p.app.inject({ url: `/v1/webhook-endpoints/${flaky.id}`, headers: org.headers })).json().status as string;
    const notify = async (cause: string) => requestNotification(p.ctx, { commandId: `notify:${cause}`, now: clock.toISOString(), organizationId: org.id }, 'quota.threshold_reached', cause, { threshold: 80, meter: 'api_requests', use: 8, included: 10 });
    const pass = async () => {
      await p.settle();
      await p.modules.invoice.webhooks!.tick(clock);
      await p.settle();
    };
    // A first message fails, and is due again 5 s later...
    receiver.answer = () => ({ status: 500 });
    await notify('a1');
    await pass();
    // ...but the platform is away for 10 days. Back, it sends a new message first (it fails) while the old one
    // waits its turn: failing since day 0, yet not disabled, the endpoint was not tried in between.
    clock = new Date(t0 + 10 * 86_400_000);
    await notify('a2');
    await pass();
    expect(await status()).toBe('enabled');
    // Caught up, attempts on time that keep failing disable it as before.
    receiver.answer = () => ({ status: 500 });
    clock = new Date(t0 + 10 * 86_400_000 + 3_600_000);
    await notify('a3');
    await pass();
    expect(await status()).toBe('disabled');
  });

  it('rotating the secret signs with both secrets for 24 hours, then the new one only', async () => {
    const org = await organization('en-US');
    const hook = await endpoint(org.headers, ['export.completed']);
    const rotated = await p.app.inject({ method: 'POST', url: `/v1/webhook-endpoints/${hook.id}/rotate-secret`, headers: org.headers });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const { secret, previousExpiresAt } = rotated.json() as { secret: string; previousExpiresAt: string };
    expect(secret).not.toBe(hook.secret);
    expect(previousExpiresAt).toBe(new Date(clock.getTime() + 86_400_000).toISOString());
    const send = (cause: string) => requestNotification(p.ctx, { commandId: cause, now: clock.toISOString(), organizationId: org.id }, 'export.completed', cause, { exportId: cause, rows: 1 });
    await send('during');
    const [during] = await receiver.waitFor(1);
    expect(String(during!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const s of [secret, hook.secret]) expect(verify(s, during!)).toMatchObject({ type: 'export.completed' });
    clock = new Date(clock.getTime() + 86_400_000 + 1000);
    await send('after');
    const [, after] = await receiver.waitFor(2);
    expect(String(after!.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verify(hook.secret, after!)).toThrow(/signature/);
    expect(verify(secret, after!)).toMatchObject({ type: 'export.completed' });
  });
});

describe('webhook endpoint URLs', () => {
  it('that lead to loopback or private addresses are refused (422, nothing written) unless allowed', async () => {
    const strict = await startTestPlatform();
    try {
      const org = await strict.createOrganization();
      const headers = { authorization: `Bearer ${org.apiKey}` };
      const before = await strict.eventCount();
      for (const url of ['https://127.0.0.1/hooks', 'https://10.0.0.7/hooks', 'https://169.254.169.254/latest', 'https://localhost/hooks', 'http://93.184.216.34/hooks']) {
        const res = await strict.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers, payload: { url, events: ['invoice.issued'] } });
        expect(res.statusCode, url).toBe(422);
        expect(res.headers['content-type']).toContain('application/problem+json');
      }
      const unknown = await strict.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers, payload: { url: 'https://93.184.216.34/hooks', events: ['invoice.paid'] } });
      expect(unknown.statusCode).toBe(400);
      expect(await strict.eventCount()).toBe(before);
      const readOnly = await strict.app.inject({ method: 'POST', url: '/v1/api-keys', headers, payload: { name: 'viewer', role: 'read_only' } });
      const viewer = { authorization: `Bearer ${readOnly.json().key ?? readOnly.json().apiKey}` };
      expect((await strict.app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: viewer, payload: { url: 'https://93.184.216.34/hooks', events: ['invoice.issued'] } })).statusCode).toBe(403);
    } finally {
      await strict.close();
    }
  });
});
