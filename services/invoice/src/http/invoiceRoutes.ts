import type { FastifyInstance } from 'fastify';
import type { Filter } from '@curbmap/eventsourcing';
import { getScoped, inputSchemas, organizationReadAuth, problemResponses, toUtc, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { invoiceCollections as C, type InvoiceView } from '../projections/invoiceProjections.ts';

const instant = { type: 'string', format: 'date-time' } as const;
const nullableInstant = { anyOf: [instant, { type: 'null' }] } as const;
export const invoiceSchema = {
  $id: 'Invoice',
  type: 'object',
  required: ['id', 'number', 'status', 'currency', 'lines', 'total', 'amountDue', 'amountPaid', 'amountRemaining', 'issuedAt'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    number: { type: 'string' },
    subscriptionId: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['open', 'partially_paid', 'paid', 'void', 'uncollectible'] },
    statusReason: { type: ['string', 'null'] },
    amountCredited: { type: 'integer' },
    creditNotes: { type: 'array', items: { $ref: 'CreditNote#' } },
    currency: { type: 'string' },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          description: { type: 'string' },
          quantity: { type: 'integer' },
          unitAmount: { type: 'integer' },
          amount: { type: 'integer' },
          periodStart: instant,
          periodEnd: instant,
          meter: { type: 'string', description: 'Overage lines: the meter billed. The usage behind the line: GET /v1/invoices/{id}/lines/{n}/usage.csv (n from 1)' },
        },
      },
    },
    subtotal: { type: 'integer', description: 'Before tax, minor units of currency' },
    tax: { type: 'object', properties: { rateBasisPoints: { type: 'integer' }, mode: { type: 'string' }, note: { type: ['string', 'null'] }, amount: { type: 'integer' } } },
    total: { type: 'integer', description: 'Minor units of currency' },
    amountDue: { type: 'integer' },
    amountPaid: { type: 'integer' },
    amountRemaining: { type: 'integer' },
    collectionMethod: { type: 'string' },
    poNumber: { type: ['string', 'null'] },
    issuedAt: instant,
    dueAt: nullableInstant,
    paidAt: nullableInstant,
  },
} as const;

export const creditNoteSchema = {
  $id: 'CreditNote',
  type: 'object',
  properties: { id: { type: 'string' }, number: { type: 'string' }, amount: { type: 'integer' }, reason: { type: 'string' }, issuedAt: { type: 'string' } },
} as const;

const tags = ['invoices'];
const security = [{ apiKey: [] }];

export async function invoiceRoutes(fastify: FastifyInstance, ctx: ServiceContext): Promise<void> {
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.addSchema(creditNoteSchema);
  app.addSchema(invoiceSchema);

  app.get('/v1/invoices', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: "The organization's invoices, newest first",
      description: 'Filters: `status`, and the issue date in [`from`, `to`). Pages of `limit`; pass `next` as `cursor` for the following page (null on the last).',
      tags,
      security,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          status: { type: 'string', enum: ['open', 'partially_paid', 'paid', 'void', 'uncollectible'] },
          from: inputSchemas.instant,
          to: inputSchemas.instant,
          limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          cursor: { type: 'string', maxLength: 500 },
        },
      } as const,
      response: { 200: { type: 'object', required: ['data', 'next'], properties: { data: { type: 'array', items: { $ref: 'Invoice#' } }, next: { type: ['string', 'null'] } } }, ...problemResponses(400, 401, 403) },
    },
    handler: async (request) => {
      const auth = organizationReadAuth(request, 'invoices');
      const q = request.query;
      const filter: Filter = { organizationId: auth.organizationId };
      if (q.status) filter['status'] = q.status;
      if (q.from || q.to) filter['issuedAt'] = { ...(q.from ? { $gte: toUtc(q.from) } : {}), ...(q.to ? { $lt: toUtc(q.to) } : {}) };
      const page = await ctx.readStore.findPage<InvoiceView>(C.invoices, filter, { orderBy: 'issuedAt', direction: 'desc', limit: q.limit ?? 100, after: q.cursor ?? null });
      return { data: page.items, next: page.next };
    },
  });

  app.get('/v1/invoices/:id', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'One invoice',
      tags,
      security,
      params: inputSchemas.idParams,
      response: { 200: { $ref: 'Invoice#' }, ...problemResponses(400, 401, 403, 404) },
    },
    handler: async (request) => getScoped<InvoiceView>(ctx.readStore, organizationReadAuth(request, 'invoices'), C.invoices, request.params.id, 'invoice'),
  });

  app.get('/v1/invoices/:id/credit-notes', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: "An invoice's credit notes", tags, security, params: inputSchemas.idParams, response: { 200: { type: 'object', properties: { data: { type: 'array', items: { $ref: 'CreditNote#' } } } }, ...problemResponses(400, 401, 403, 404) } },
    handler: async (request) => ({ data: (await getScoped<InvoiceView>(ctx.readStore, organizationReadAuth(request, 'invoices'), C.invoices, request.params.id, 'invoice')).creditNotes ?? [] }),
  });
}
