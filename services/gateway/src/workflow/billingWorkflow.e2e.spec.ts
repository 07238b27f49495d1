import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { simpleParser, type ParsedMail } from 'mailparser';
import { Webhook } from 'standardwebhooks';
import { categoryCarries, categoryOf } from '@curbmap/contracts';
import { chromiumPath, SmtpSink } from '@curbmap/invoice';
import { sharedServer, WebhookReceiver } from '@curbmap/testing';
import { exportOveragePlans, startTestPlatform, TEST_ADMIN_TOKEN, type TestPlatform } from '@curbmap/gateway/testing';
import { createDatabase, mongoUnavailable, postgresUnavailable, s3Unavailable, startPrivateCluster, startPrivateMongo, startPrivateS3 } from '@curbmap/infra';
import { S3ArtifactStore } from '@curbmap/service-kit/s3';

/**
 * The whole workflow over HTTP, time injected: an organization subscribes for a year, uses more than its plan
 * includes, the year closes; it receives its invoices (annual fee, renewal, overage) by e-mail with their PDFs
 * and by signed webhooks, is reminded of what is overdue and of the renewal, the operator records its payments,
 * and it exports its invoices as CSV.
 */
let p: TestPlatform;
let sink: SmtpSink;
let receiver: WebhookReceiver;
let plans: ReturnType<typeof exportOveragePlans>;
let hooksUrl: string;
let clock: Date;
const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

// The same workflow on each storage: the embedded SQLite file, PostgreSQL, and the distributed stores of the design
// card (events in PostgreSQL, read models on a MongoDB-wire server, FerretDB; exports and PDFs in an S3 bucket,
// SeaweedFS), where each can be had here.
interface Storage {
  label: string;
  postgres: boolean;
  mongo: boolean;
  s3: boolean;
}
const storages: Storage[] = [
  { label: 'SQLite', postgres: false, mongo: false, s3: false },
  ...(postgresUnavailable() ? [] : [{ label: 'PostgreSQL', postgres: true, mongo: false, s3: false }]),
  ...(mongoUnavailable()
    ? []
    : [{ label: `${postgresUnavailable() ? 'SQLite' : 'PostgreSQL'} events, read models on FerretDB${s3Unavailable() ? '' : ', artifacts on S3 (SeaweedFS)'}`, postgres: !postgresUnavailable(), mongo: true, s3: !s3Unavailable() }]),
];
const cluster = sharedServer(() => startPrivateCluster());
const mongoServer = sharedServer(() => startPrivateMongo());
const s3Server = sharedServer(() => startPrivateS3());
let s3Store: S3ArtifactStore | null = null;

async function startWorkflowPlatform({ postgres, mongo, s3 }: Storage): Promise<void> {
  clock = new Date('2027-05-10T12:00:00Z');
  // The City plan with two export jobs included and each further one at $25.00.
  plans = exportOveragePlans(2);
  sink = new SmtpSink();
  receiver = new WebhookReceiver();
  hooksUrl = await receiver.listen();
  const databaseUrl = postgres ? (await createDatabase((await cluster()).url)).url : null;
  const mongoUrl = mongo ? `${(await mongoServer()).url.replace(/\/$/, '')}/workflow` : null;
  if (s3) {
    process.env['AWS_ACCESS_KEY_ID'] ??= 'curbmap-test';
    process.env['AWS_SECRET_ACCESS_KEY'] ??= 'curbmap-test-secret';
    s3Store = new S3ArtifactStore({ url: (await s3Server()).url, bucket: 'curbmap-workflow' });
  }
  p = await startTestPlatform({ now: () => clock, ...(databaseUrl ? { databaseUrl } : {}), ...(mongoUrl ? { mongoUrl } : {}), modules: { ...(s3 ? { artifacts: s3Store! } : {}), plansFile: plans.plansFile, smtpUrl: await sink.listen(), webhookAllowPrivateNetworks: true, webhookIntervalMs: 3_600_000, renderPdfsOnIssue: true } });
}

async function stopWorkflowPlatform(): Promise<void> {
  await p?.close();
  s3Store?.close();
  s3Store = null;
  await sink?.close();
  await receiver?.close();
  plans.remove();
}

const mails = async (count: number): Promise<ParsedMail[]> => Promise.all((await sink.waitFor(count, 30_000)).map((m) => simpleParser(m.raw)));
const subjects = async (count: number) => (await mails(count)).map((m) => m.subject);

for (const storage of storages) describe.skipIf(!chromiumPath())(`the billing workflow, end to end (${storage.label})`, () => {
  beforeAll(() => startWorkflowPlatform(storage), 60_000);
  afterAll(() => stopWorkflowPlatform());
  it('subscribe → use past the quota → year closes → invoices with PDF by e-mail and webhook → operator records payment → paid → invoices exported as CSV', async () => {
    // An organization (Chicago), its billing details and a webhook endpoint for every event.
    const org = await p.createOrganization('City of Springfield', { timeZone: 'America/Chicago' });
    const key = { authorization: `Bearer ${org.apiKey}` };
    const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object, headers = key) => p.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    expect((await call('PUT', '/v1/organization/billing-details', { legalName: 'City of Springfield', addressLines: ['742 Evergreen Terrace', 'Springfield, IL 62704'], country: 'US', taxId: null, locale: 'en-US' })).statusCode).toBe(200);
    const hook = (await call('POST', '/v1/webhook-endpoints', { url: hooksUrl, events: ['invoice.issued', 'invoice.overdue', 'payment.received', 'subscription.renewal_due', 'quota.threshold_reached', 'export.completed'] })).json() as { id: string; secret: string };

    // An annual subscription: the year's fee is invoiced and mailed with its PDF.
    const subscribed = await call('POST', '/v1/subscription', { planId: 'city', seats: 2 });
    expect(subscribed.statusCode, subscribed.body).toBe(201);
    const [feeMail] = await mails(1);
    const [fee] = (await call('GET', '/v1/invoices')).json().data as { id: string; number: string; total: number }[];
    expect(fee).toMatchObject({ number: 'CM-2027-000001', total: 720_000 });
    expect(feeMail!.subject).toBe('Invoice CM-2027-000001 from CurbMap');
    expect(feeMail!.attachments[0]!.filename).toBe('CM-2027-000001.pdf');

    // Use past the quota: three exports of the project's curb zones, two included.
    const project = (await call('POST', '/v1/projects', { name: 'Downtown' })).json().id;
    const zone = { curb_zone_id: 'e1000000-0000-4000-8000-000000000001', geometry: { type: 'LineString', coordinates: [[-89.65, 39.78], [-89.64, 39.79]] }, curb_policy_ids: [], published_date: 1, last_updated_date: 1, start_date: 1 };
    expect((await p.app.inject({ method: 'POST', url: `/v1/projects/${project}/curbs/import`, headers: { ...key, 'content-type': 'application/json' }, payload: JSON.stringify({ version: '1.1', data: { zones: [zone] } }) })).statusCode).toBe(201);
    for (let i = 0; i < 3; i++) {
      expect((await call('POST', '/v1/exports', { dataset: 'zones', format: 'csv' })).statusCode).toBe(202);
      await p.modules.export.runner!.idle();
      await p.settle();
    }
    // Three exports completed, 80 % and 100 % of the included exports: each told once.
    expect((await subjects(6)).slice(1).sort()).toEqual(['100% of your included export_jobs used', '80% of your included export_jobs used', 'Your export is ready', 'Your export is ready', 'Your export is ready']);

    // The fee is not paid by its due date (30 days, end of day in Chicago): overdue.
    clock = new Date('2027-06-10T12:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    expect((await subjects(7))[6]).toBe('Invoice CM-2027-000001 is overdue');
    // The city pays by transfer; the operator records it: paid, and the city is told.
    const feePaid = await call('POST', `/v1/admin/invoices/${fee!.id}/payments`, { amount: 720_000, currency: 'USD', reference: 'ACH-2027-06-11', receivedAt: '2027-06-11T15:00:00Z' }, admin);
    expect(feePaid.statusCode, feePaid.body).toBe(201);
    expect((await subjects(8))[7]).toBe('Payment received: $7,200.00');
    expect((await call('GET', `/v1/invoices/${fee!.id}`)).json().status).toBe('paid');

    // Reminders 30 and 7 days before the renewal (10 May 2028, midnight in Chicago).
    clock = new Date('2028-04-10T12:00:00Z');
    expect(await p.modules.invoice.notifications!.remindRenewals(clock)).toBe(1);
    expect(await p.modules.invoice.notifications!.remindRenewals(clock)).toBe(0);
    expect((await subjects(9))[8]).toBe('Your CurbMap subscription renews in 30 days');
    clock = new Date('2028-05-04T12:00:00Z');
    expect(await p.modules.invoice.notifications!.remindRenewals(clock)).toBe(1);
    expect((await subjects(10))[9]).toBe('Your CurbMap subscription renews in 7 days');

    // The year ends and renews (the next year's fee); an hour later its usage closes: the overage is invoiced.
    clock = new Date('2028-05-10T05:00:00Z');
    await p.modules.billing.scheduler!.tick(clock);
    await p.settle();
    clock = new Date('2028-05-10T06:01:00Z');
    expect((await call('POST', '/v1/admin/usage/close-periods', undefined, admin)).json().closed).toBe(1);
    const all = await mails(12);
    await p.settle();
    const invoices = (await call('GET', '/v1/invoices')).json().data as { id: string; number: string; total: number; status: string; lines: { description: string; quantity: number; amount: number }[] }[];
    expect(invoices.map((i) => [i.number, i.status, i.total])).toEqual([['CM-2028-000002', 'open', 2_500], ['CM-2028-000001', 'open', 720_000], ['CM-2027-000001', 'paid', 720_000]]);
    const overage = invoices[0]!;
    expect(overage.lines).toEqual([expect.objectContaining({ quantity: 1, amount: 2_500, description: expect.stringMatching(/^Overage export_jobs: 1 over the 2 included/) })]);

    // Its PDF is the one mailed: the same bytes the API serves, with the checksum recorded.
    const overageMail = all.find((m) => m.subject === `Invoice ${overage.number} from CurbMap`)!;
    expect(overageMail.text).toContain('$25.00');
    const pdf = await call('GET', `/v1/invoices/${overage.id}/pdf`);
    expect(pdf.statusCode).toBe(200);
    expect(Buffer.compare(pdf.rawPayload, overageMail.attachments[0]!.content)).toBe(0);
    expect(all.map((m) => m.to && !Array.isArray(m.to) ? m.to.text : '')).toEqual(Array(12).fill('ap@springfield.example'));

    // The operator records the overage's payment: paid.
    expect((await call('POST', `/v1/admin/invoices/${overage.id}/payments`, { amount: 2_500, currency: 'USD', reference: 'ACH-2028-05-12', receivedAt: '2028-05-12T15:00:00Z' }, admin)).statusCode).toBe(201);
    expect((await subjects(13))[12]).toBe('Payment received: $25.00');
    await p.settle();
    expect((await call('GET', `/v1/invoices/${overage.id}`)).json()).toMatchObject({ status: 'paid', amountRemaining: 0 });

    // The invoices exported as CSV.
    const started = await call('POST', '/v1/exports', { dataset: 'invoices', format: 'csv' });
    expect(started.statusCode).toBe(202);
    await p.modules.export.runner!.idle();
    await p.settle();
    const job = (await call('GET', `/v1/exports/${started.json().id}`)).json();
    expect(job.status).toBe('completed');
    expect(job.manifest.consistentAt).not.toBeNull();
    const csv = (await p.app.inject({ url: (await call('GET', `/v1/exports/${started.json().id}/download`)).headers.location as string })).body;
    const rows = csv.trim().split('\r\n').map((r) => r.split(','));
    expect(rows[0]!.slice(0, 5)).toEqual(['id', 'number', 'status', 'currency', 'total']);
    expect(rows.slice(1).map((r) => [r[1], r[2], r[4]]).sort()).toEqual([['CM-2027-000001', 'paid', '720000'], ['CM-2028-000001', 'open', '720000'], ['CM-2028-000002', 'paid', '2500']]);

    // Every notification also went to the endpoint, signed: the standard's verifier accepts each.
    // (A message whose dispatch lagged behind the last pass goes with the next one, as the worker's timer would send it.)
    await p.settle();
    await expect.poll(async () => (await p.modules.invoice.webhooks!.tick(clock), receiver.received.length), { timeout: 15_000, interval: 200 }).toBeGreaterThanOrEqual(14);
    vi.useFakeTimers({ toFake: ['Date'] });
    const types = receiver.received.map((r) => {
      vi.setSystemTime(Number(r.headers['webhook-timestamp']) * 1000);
      return (new Webhook(hook.secret).verify(r.body, r.headers as Record<string, string>) as { type: string }).type;
    });
    vi.useRealTimers();
    const count = (t: string) => types.filter((x) => x === t).length;
    expect([count('invoice.issued'), count('export.completed'), count('quota.threshold_reached'), count('invoice.overdue'), count('payment.received'), count('subscription.renewal_due')]).toEqual([3, 4, 2, 1, 2, 2]);

    // Kafka consumers read one topic per stream category: the log holds only what the contracts say each carries.
    const undeclared = new Set<string>();
    for await (const event of p.ctx.store.readAll()) if (!categoryCarries(categoryOf(event.streamId), event.type)) undeclared.add(`${categoryOf(event.streamId)} ${event.type}`);
    expect([...undeclared]).toEqual([]);
  });
});
