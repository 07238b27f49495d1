import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { format } from '@fast-csv/format';
import { getScoped, organizationReadAuth, problemResponses, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { lineEvidence } from '../application/usageEvidence.ts';
import { usagePricing } from '../projections/usagePlansProjection.ts';
import { usageInvoices, type UsageInvoiceView } from '../projections/usageInvoicesProjection.ts';

const COLUMNS = ['event_id', 'time', 'project_id', 'value', 'sign', 'note'];

/**
 * A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return first): an event id is the
 * client's text and may be anything; the auditor opening the file must see it, not run it (OWASP CSV injection).
 */
export const inert = (cell: string) => (/^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell);

/** The usage behind an invoice's overage line, for the organization's auditors (the invoice names the link). */
export async function usageEvidenceRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const pricing = usagePricing(ctx);
  app.get('/v1/invoices/:id/lines/:line/usage.csv', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'The usage an overage line of an invoice bills, as CSV (RFC 4180)',
      description:
        'One row per counted item (`sign` 1) and per side of a correction (`sign` −1 for what a void or an amendment took away, 1 for the amended item): the batches in log order, then the corrections in log order. Then the figures that follow from them, each a row with an empty `event_id`, its label in `note` and its figure in `value`: for the close\'s line the total counted, the included amount, the use over it, the unit size and the units billed (the line\'s quantity); for a later adjustment the total billed before, the change (count and sum meters) or the total recomputed from the rows (other aggregations), the total after, the included amount, the unit size and the units before, after and billed (the line\'s quantity). A last row labelled `(differs)` would give the total the close or adjustment recorded where the rows give another. Text cells that a spreadsheet would run as a formula start with an apostrophe. Lines are numbered from 1 in the invoice\'s order; a line that bills no usage is 404.',
      tags: ['invoices'],
      security: [{ apiKey: [] }],
      produces: ['text/csv'],
      params: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'line'],
        properties: { id: { type: 'string', format: 'uuid' }, line: { type: 'integer', minimum: 1, maximum: 10_000 } },
      },
      response: { 200: { type: 'string', description: COLUMNS.join(',') }, ...problemResponses(400, 401, 403, 404) },
    },
    handler: async (request, reply) => {
      const invoice = await getScoped<UsageInvoiceView>(ctx.readStore, organizationReadAuth(request, 'invoices'), usageInvoices, request.params.id, 'invoice');
      // Everything that can refuse is checked here, before the first byte: a problem, never half a file.
      const evidence = await lineEvidence(ctx, pricing, invoice, request.params.line);
      const csv = format({ headers: COLUMNS, includeEndRowDelimiter: true });
      async function* records() {
        // Numbers as numbers (a negative value stays one); text made inert.
        for await (const r of evidence.rows()) yield [inert(r.eventId), r.time, r.projectId ?? '', typeof r.value === 'number' ? r.value : inert(typeof r.value === 'string' ? r.value : JSON.stringify(r.value)), r.sign, r.note];
        for (const [label, figure] of evidence.summary()) yield ['', '', '', figure === null ? '' : String(figure), '', label];
      }
      // A failure while reading ends the answer early (the connection closes): the file is never short and complete-looking.
      pipeline(Readable.from(records()), csv).catch((err: unknown) => ctx.log.error({ err, invoiceId: invoice.id }, 'usage evidence failed while streaming'));
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${evidence.filename}"`).send(csv);
    },
  });
}
