import type { FastifyInstance } from 'fastify';
import { commandMetadata, getScoped, inputSchemas, keyAuth, organizationKeyAuth, organizationReadAuth, problemResponses, type SchemaTypes, type ServiceContext } from '@curbmap/service-kit';
import { DEFAULT_BRANDING, payToRows, renderDocument, setTemplate, templateOf } from '../application/invoiceDocuments.ts';
import { invoicePdf, type PdfDeps } from '../application/invoicePdfs.ts';
import { DOCUMENT_CSP } from '../adapters/chromiumPdfRenderer.ts';
import { invoiceCollections as C, type InvoiceView } from '../projections/invoiceProjections.ts';

const tags = ['invoices'];
const security = [{ apiKey: [] }];
const branding = {
  type: 'object',
  additionalProperties: false,
  properties: {
    logo: {
      type: ['string', 'null'],
      maxLength: 300_000,
      pattern: '^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+={0,2}$',
      description: 'The logo as an uploaded image: a data: URL of a PNG, JPEG, GIF or WebP, base64 (up to about 220 KB). Invoices are rendered without any network access, so a link to an image is not taken.',
    },
    logoUrl: { type: 'null', description: 'Replaced by `logo` (an uploaded image): only null, which removes a link set before.' },
    primaryColor: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$' },
    footer: { type: ['string', 'null'], maxLength: 1000 },
  },
} as const;
const templateResponse = { type: 'object', properties: { template: { type: 'string' }, custom: { type: 'boolean' }, branding: { type: 'object', additionalProperties: true } } } as const;
const html = { 200: { description: 'text/html', type: 'string' } } as const;
/** A template is the organization's own HTML: served with the policy it prints under (no script, nothing fetched). */
const CSP = DOCUMENT_CSP;

/** Each organization's invoice template (Handlebars) and branding; previews and the HTML of an invoice. */
export async function invoiceTemplateRoutes(fastify: FastifyInstance, ctx: ServiceContext, deps: PdfDeps): Promise<void> {
  const { supplier } = deps;
  const app = fastify.withTypeProvider<SchemaTypes>();
  app.put('/v1/invoice-template', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'Set the invoice template (Handlebars) and branding',
      description: 'A template that does not compile, or renders without a required field (number, issue and due dates, supplier and customer names, customer tax ID, taxable amount, tax, total), is a 422 that says which. `template: null` goes back to the default.',
      tags,
      security,
      body: { type: 'object', additionalProperties: false, properties: { template: { type: ['string', 'null'], maxLength: 100_000 }, branding } },
      response: { 200: templateResponse, ...problemResponses(400, 401, 403, 422) },
    },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'change the invoice template');
      const body = request.body as { template?: string | null; branding?: Partial<typeof DEFAULT_BRANDING> };
      const current = await templateOf(ctx, auth.organizationId);
      const source = body.template === undefined ? (current.custom ? current.source : null) : body.template;
      // A link set before logos were uploads is dropped: nothing shows it any more.
      await setTemplate(ctx, commandMetadata(request, ctx, auth.organizationId), source, { ...current.branding, ...body.branding, logoUrl: null });
      const saved = await templateOf(ctx, auth.organizationId);
      return { template: saved.source, custom: saved.custom, branding: saved.branding };
    },
  });

  app.get('/v1/remittance-details', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'Where to send a bank transfer that pays an invoice: the operator\'s account (as printed on invoices paid by transfer)',
      description: '`payTo` is null when the operator has not configured its bank details (CURBMAP_REMITTANCE_*); the reference row says what the transfer must quote.',
      tags,
      security,
      response: {
        200: {
          type: 'object',
          required: ['remittance', 'payTo'],
          properties: { remittance: { type: 'string' }, payTo: { type: ['array', 'null'], items: { type: 'object', required: ['label', 'value'], properties: { label: { type: 'string' }, value: { type: 'string' } } } } },
        },
        ...problemResponses(401),
      },
    },
    handler: async () => ({ remittance: supplier.remittance, payTo: supplier.bankDetails ? payToRows(supplier.bankDetails, 'the invoice number') : null }),
  });

  app.get('/v1/invoice-template', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'The invoice template in use (the default one unless the organization set its own) and branding', tags, security, response: { 200: templateResponse, ...problemResponses(401, 403) } },
    handler: async (request) => {
      const t = await templateOf(ctx, organizationReadAuth(request, 'the invoice template').organizationId);
      return { template: t.source, custom: t.custom, branding: t.branding };
    },
  });

  app.get('/v1/invoice-template/preview', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'A sample invoice rendered with the organization\'s template, branding and details (HTML)', tags, security, produces: ['text/html'], response: { ...html, ...problemResponses(401, 403) } },
    handler: async (request, reply) => reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).send(await renderDocument(ctx, organizationReadAuth(request, 'the invoice template').organizationId, null, supplier)),
  });

  app.get('/v1/invoices/:id/html', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'An invoice as its document (HTML, the page its PDF prints)', tags, security, params: inputSchemas.idParams, produces: ['text/html'], response: { ...html, ...problemResponses(401, 403, 404) } },
    handler: async (request, reply) => {
      const auth = organizationReadAuth(request, 'invoices');
      const invoice = await getScoped<InvoiceView>(ctx.readStore, auth, C.invoices, (request.params as { id: string }).id, 'invoice');
      return reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).send(await renderDocument(ctx, auth.organizationId, invoice, supplier));
    },
  });

  app.get('/v1/invoices/:id/pdf', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'An invoice as PDF',
      description: 'Rendered once from the organization\'s template and kept: every later request gets the same bytes (SHA-256 in ETag and X-Content-SHA256).',
      tags,
      security,
      params: inputSchemas.idParams,
      produces: ['application/pdf'],
      response: { 200: { description: 'application/pdf', type: 'string' }, ...problemResponses(401, 403, 404, 503) },
    },
    handler: async (request, reply) => {
      const auth = organizationReadAuth(request, 'invoices');
      const invoice = await getScoped<InvoiceView>(ctx.readStore, auth, C.invoices, (request.params as { id: string }).id, 'invoice');
      const pdf = await invoicePdf(ctx, deps, invoice);
      return reply
        .type('application/pdf')
        .header('content-length', pdf.bytes)
        .header('content-disposition', `inline; filename="${invoice.number}.pdf"`)
        .header('etag', `"${pdf.sha256}"`)
        .header('x-content-sha256', pdf.sha256)
        .send(pdf.stream);
    },
  });
}
