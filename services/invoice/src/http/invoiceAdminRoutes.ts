import type { FastifyInstance } from 'fastify';
import { deterministicUuid } from '@curbmap/eventsourcing';
import { commandMetadata, inputSchemas, notFound, problemResponses, runCommand, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { invoiceDecider, invoiceStream, type InvoiceCommand } from '../domain/invoice/invoiceDecider.ts';
import { invoiceCollections as C, type InvoiceView, type UncreditedAdjustmentView } from '../projections/invoiceProjections.ts';

const tags = ['invoices'];
const security = [{ adminToken: [] }];
const reasonBody = { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } } as const;

/** The operator's corrections of an invoice (facts about money: admin token only). */
export async function invoiceAdminRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  const actions = [
    ['void', 'VoidInvoice', 'Void an invoice issued in error: nothing is owed on it any more', 'Only while nothing is paid on it (a paid or partly paid invoice is corrected by a credit note, never voided): 409 otherwise. Its receivable closes; a subscription it held past due recovers.'],
    ['mark-uncollectible', 'MarkUncollectible', 'Mark an invoice uncollectible: dunning stops', 'The subscription is no longer held past due by it; a payment that still arrives settles it (status paid).'],
  ] as const;
  for (const [path, type, summary, description] of actions) {
    app.post(`/v1/admin/invoices/:id/${path}`, {
      config: { auth: 'admin' },
      schema: { summary, description, tags, security, params: inputSchemas.idParams, body: reasonBody, response: { 200: { $ref: 'Invoice#' }, ...problemResponses(400, 401, 404, 409) } },
      handler: async (request) => {
        const invoiceId = (request.params as { id: string }).id;
        const view = await ctx.readStore.get<InvoiceView>(C.invoices, invoiceId);
        if (!view) throw notFound('invoice');
        const { reason } = request.body as { reason: string };
        const data = type === 'VoidInvoice' ? { reason: reason.trim(), amountPaid: view.amountPaid } : { reason: reason.trim(), paidInFull: view.amountRemaining <= 0 };
        await runCommand(ctx, invoiceDecider, invoiceStream(invoiceId), { type, data, metadata: commandMetadata(request, ctx, view.organizationId) } as InvoiceCommand);
        return ctx.readStore.get<InvoiceView>(C.invoices, invoiceId);
      },
    });
  }

  app.get('/v1/admin/uncredited-adjustments', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Usage adjustments that took off a closed year more than its invoices could still credit, newest first',
      description: 'The invoices that billed the overage were credited to their totals already (by the operator or earlier adjustments): the rest is reported here for the operator to decide, never dropped.',
      tags,
      security,
      querystring: { type: 'object', additionalProperties: false, properties: { organizationId: { type: 'string', format: 'uuid' } } } as const,
      response: {
        200: {
          type: 'object',
          properties: { data: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, organizationId: { type: 'string' }, sourceEventId: { type: 'string' }, meter: { type: 'string' }, periodStart: { type: 'string' }, periodEnd: { type: 'string' }, amount: { type: 'integer' }, currency: { type: 'string' }, reason: { type: 'string' }, reportedAt: { type: 'string' } } } } },
        },
        ...problemResponses(400, 401),
      },
    },
    handler: async (request) => {
      const { organizationId } = request.query as { organizationId?: string };
      return { data: await ctx.readStore.find<UncreditedAdjustmentView>(C.uncredited, organizationId ? { organizationId } : {}, { orderBy: 'reportedAt', direction: 'desc', limit: 1000 }) };
    },
  });

  app.post('/v1/admin/invoices/:id/credit-notes', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Credit part or all of an invoice, with a reason',
      description: 'Numbered `<invoice number>-CN01`, `-CN02`…; at most the total less earlier credit notes; not on a void invoice. An open invoice then asks less; what was already paid beyond the new amount returns to the organization\'s credit balance. Send an Idempotency-Key: a retry issues one credit note.',
      tags,
      security,
      params: inputSchemas.idParams,
      body: { type: 'object', additionalProperties: false, required: ['amount', 'reason'], properties: { amount: inputSchemas.positiveAmount, reason: { type: 'string', minLength: 1, maxLength: 500 } } },
      response: { 201: { $ref: 'CreditNote#' }, ...problemResponses(400, 401, 404, 409, 422) },
    },
    handler: async (request, reply) => {
      const invoiceId = (request.params as { id: string }).id;
      const view = await ctx.readStore.get<InvoiceView>(C.invoices, invoiceId);
      if (!view) throw notFound('invoice');
      const { amount, reason } = request.body as { amount: number; reason: string };
      const meta = commandMetadata(request, ctx, view.organizationId);
      const creditNoteId = deterministicUuid(`credit-note:${meta.commandId}`);
      await runCommand(ctx, invoiceDecider, invoiceStream(invoiceId), { type: 'IssueCreditNote', data: { creditNoteId, amount, reason: reason.trim() }, metadata: meta });
      const note = (await ctx.readStore.get<InvoiceView>(C.invoices, invoiceId))?.creditNotes?.find((n) => n.id === creditNoteId);
      reply.code(201);
      return note;
    },
  });
}
