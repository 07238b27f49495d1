import type { FastifyInstance } from 'fastify';
import { DateTime } from 'luxon';
import { format } from '@fast-csv/format';
import { problemResponses, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { invoicingJournal, monthBounds, revenueReport, type JournalLine } from '../domain/revenue/revenueReport.ts';
import type { RevenueInvoice } from '../domain/revenue/revenueSchedule.ts';
import { invoiceCollections as C, type InvoiceOrganizationView } from '../projections/invoiceProjections.ts';
import { revenueCollections as R, type CashMovementView, type RevenueInvoiceView } from '../projections/revenueProjection.ts';

const tags = ['reports'];
const security = [{ adminToken: [] }];
const query = {
  type: 'object',
  additionalProperties: false,
  required: ['month'],
  properties: {
    month: { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])$', description: 'YYYY-MM, in each organization\'s zone' },
    organizationId: { type: 'string', format: 'uuid', description: 'One organization only' },
  },
} as const;
const revenueRow = {
  type: 'object',
  properties: {
    organizationId: { type: 'string' },
    currency: { type: 'string' },
    openingDeferred: { type: 'integer', description: 'Minor units of currency' },
    billed: { type: 'integer', description: 'Net of tax, invoices issued in the month' },
    reversed: { type: 'integer', description: 'Net of tax, credit notes, voids and card refunds that left the invoice paid' },
    recognised: { type: 'integer' },
    closingDeferred: { type: 'integer', description: 'openingDeferred + billed − reversed − recognised; the next month\'s openingDeferred' },
  },
} as const;
const REVENUE_COLUMNS = ['organization_id', 'currency', 'opening_deferred', 'billed', 'reversed', 'recognised', 'closing_deferred'];
const JOURNAL_COLUMNS = ['date', 'organization_id', 'currency', 'account', 'debit', 'credit', 'source_event_id', 'memo'];

/** The finance office's reports (admin token): deferred revenue by month, and the month's double entries. */
export async function revenueReportRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();

  const invoicesOf = async (organizationId: string | undefined): Promise<RevenueInvoice[]> =>
    (await ctx.readStore.find<RevenueInvoiceView>(R.invoices, { ...(organizationId ? { organizationId } : {}), finalized: true })) as unknown as RevenueInvoice[];
  const rowsOf = async (q: { month: string; organizationId?: string }) => revenueReport(await invoicesOf(q.organizationId), q.month);

  app.get('/v1/admin/reports/revenue', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Deferred revenue of a month, per organization and currency',
      description: 'Invoice lines are recognised day by day over their service period in the organization\'s zone (usage overage when billed); credit notes, voids and card refunds that leave the invoice paid reverse from their date on. Each month\'s closing deferred revenue is the next month\'s opening. See docs/architecture/invoicing.md § Revenue.',
      tags,
      security,
      querystring: query,
      response: { 200: { type: 'object', properties: { month: { type: 'string' }, data: { type: 'array', items: revenueRow } } }, ...problemResponses(400, 401) },
    },
    handler: async (request) => ({ month: request.query.month, data: await rowsOf(request.query) }),
  });

  app.get('/v1/admin/reports/revenue.csv', {
    config: { auth: 'admin' },
    schema: { summary: 'The same as CSV (RFC 4180)', tags, security, produces: ['text/csv'], querystring: query, response: { 200: { type: 'string', description: REVENUE_COLUMNS.join(',') }, ...problemResponses(400, 401) } },
    handler: async (request, reply) => {
      const rows = await rowsOf(request.query);
      return sendCsv(reply, `revenue-${request.query.month}.csv`, REVENUE_COLUMNS, rows.map((r) => [r.organizationId, r.currency, r.openingDeferred, r.billed, r.reversed, r.recognised, r.closingDeferred]));
    },
  });

  app.get('/v1/admin/reports/journal', {
    config: { auth: 'admin' },
    schema: {
      summary: 'The month\'s double entries as CSV: receivables, deferred revenue, revenue, tax payable, cash and customer credit',
      description: 'Each line names the event it comes from (`source_event_id`); every entry balances, so debits equal credits per currency. Amounts in minor units. Recognition is one entry per invoice (and per reversal) on the month\'s last day.',
      tags,
      security,
      produces: ['text/csv'],
      querystring: query,
      response: { 200: { type: 'string', description: JOURNAL_COLUMNS.join(',') }, ...problemResponses(400, 401) },
    },
    handler: async (request, reply) => {
      const { month, organizationId } = request.query;
      const lines = [...invoicingJournal(await invoicesOf(organizationId), month), ...(await cashJournal(ctx, month, organizationId))];
      lines.sort((a, b) => a.date.localeCompare(b.date) || a.organizationId.localeCompare(b.organizationId) || a.sourceEventId.localeCompare(b.sourceEventId));
      return sendCsv(reply, `journal-${month}.csv`, JOURNAL_COLUMNS, lines.map((l) => [l.date, l.organizationId, l.currency, l.account, l.debit, l.credit, l.sourceEventId, l.memo]));
    },
  });
}

/** Payments, refunds and credit of the month (in each organization's zone), as double entries. */
async function cashJournal(ctx: ServiceContext, month: string, organizationId: string | undefined): Promise<JournalLine[]> {
  const zones = new Map<string, string>();
  const lines: JournalLine[] = [];
  for (const m of await ctx.readStore.find<CashMovementView>(R.cash, organizationId ? { organizationId } : {})) {
    if (!zones.has(m.organizationId)) zones.set(m.organizationId, (await ctx.readStore.get<InvoiceOrganizationView>(C.organizations, m.organizationId))?.timeZone ?? 'UTC');
    const zone = zones.get(m.organizationId)!;
    const { start, end } = monthBounds(month, zone);
    if (Date.parse(m.at) < Date.parse(start) || Date.parse(m.at) >= Date.parse(end)) continue;
    const date = DateTime.fromISO(m.at, { zone }).toISODate()!;
    for (const [account, amount] of m.sides) lines.push({ date, organizationId: m.organizationId, currency: m.currency, account, debit: amount > 0 ? amount : 0, credit: amount < 0 ? -amount : 0, sourceEventId: m.id, memo: m.memo });
  }
  return lines;
}

function sendCsv(reply: import('fastify').FastifyReply, filename: string, headers: string[], rows: (string | number)[][]) {
  const csv = format({ headers, includeEndRowDelimiter: true });
  reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${filename}"`);
  queueMicrotask(() => {
    for (const row of rows) csv.write(row);
    csv.end();
  });
  return reply.send(csv);
}
