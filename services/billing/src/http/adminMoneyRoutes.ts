import type { FastifyInstance } from 'fastify';
import { collectionMethods } from '@curbmap/contracts';
import { deterministicUuid, type Filter } from '@curbmap/eventsourcing';
import { commandMetadata, HttpError, inputSchemas, notFound, NotYetVisibleError, problemResponses, runCommand, toUtc, type SchemaTypes } from '@curbmap/service-kit';
import { billingTermsOf, setBillingTerms } from '../application/billingTermsCommands.ts';
import { recordBankTransfer, recordManualRefund } from '../application/receivableCommands.ts';
import { BILLING_PROCESSES } from '../application/billingProcesses.ts';
import { providerOutcome, providerRefused } from '../application/providerOutcome.ts';
import { customerOf, type BillingDeps } from '../application/subscriptionCommands.ts';
import { stripePaymentDecider, stripePaymentStream } from '../domain/payment/stripePaymentDecider.ts';
import { billingCollections as C, type PaymentView, type ReceivableView, type RemittanceAdviceView } from '../projections/billingProjections.ts';

const security = [{ adminToken: [] }];

/** Waits (a few seconds at most) until billing's process managers have handled the log up to now. */
async function billingReactionsCaughtUp(ctx: BillingDeps['ctx']): Promise<void> {
  const processes = ctx.subscriptions.list().find((s) => s.name === BILLING_PROCESSES);
  await processes?.waitFor(await ctx.store.headPosition(), 5_000).catch(() => undefined);
}
const tags = ['operations: money'];
const errors = problemResponses(400, 401, 404, 409, 422, 502);

/**
 * Facts about money received or returned, and the terms of payment, belong to the platform operator (admin
 * token). An organization's keys never record them: a customer never moves money by calling the API.
 */
export async function adminMoneyRoutes(fastify: FastifyInstance, deps: BillingDeps): Promise<void> {
  const { ctx } = deps;
  const app = fastify.withTypeProvider<SchemaTypes>();

  app.post('/v1/admin/invoices/:id/payments', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Record a bank transfer received against an invoice',
      description: 'An under-payment leaves the rest open (amountRemaining); an over-payment settles the invoice and the excess becomes the organization\'s credit, which settles its other open invoices, oldest first. A reference is recorded once per invoice.',
      tags,
      security,
      params: inputSchemas.idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['amount', 'currency', 'reference', 'receivedAt'],
        properties: { amount: inputSchemas.positiveAmount, currency: inputSchemas.currency, reference: inputSchemas.reference, receivedAt: inputSchemas.instant },
      } as const,
      response: { 201: { $ref: 'Payment#' }, ...errors },
    },
    handler: async (request, reply) => {
      const receivable = await ctx.readStore.get<ReceivableView>(C.receivables, request.params.id);
      if (!receivable) throw notFound('invoice');
      const { amount, currency, reference, receivedAt } = request.body;
      // Billing's reactions to what came before (a credit note issued a moment ago lowers what is owed) are applied
      // first, so the payment is applied, and its answer's amountRemaining given, against what is really owed.
      await billingReactionsCaughtUp(ctx);
      const meta = commandMetadata(request, ctx, receivable.organizationId);
      const result = await recordBankTransfer(ctx, meta, receivable.id, { amount, currency: currency.toUpperCase(), reference, receivedAt: toUtc(receivedAt) });
      const event = result.events.find((e) => e.type === 'billing.payment.succeeded');
      if (!event || event.type !== 'billing.payment.succeeded') throw notFound('payment');
      reply.code(201).header('location', `/v1/payments/${event.data.paymentId}`);
      const view = await ctx.readStore.get<PaymentView>(C.payments, event.data.paymentId);
      return { ...view, amountRemaining: event.data.amountRemaining };
    },
  });

  app.post('/v1/admin/payments/:id/refunds', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Refund a payment (all that is refundable, or amount in minor units)',
      description:
        'A bank transfer: records money the operator returned (reference and refundedAt of the return); the invoice is owed again by that amount (reopened) and the subscription follows its due date. At most what the transfer still applies to the invoice can be refunded: an over-payment\'s excess, and what credit notes or a void moved to the credit balance, are the customer\'s as credit already. A reference is recorded once per payment (409 again). A card payment through Stripe: asks Stripe to refund; Stripe\'s invoice stays paid, as Stripe keeps it. Credit applied from an over-payment is not a payment and is not refunded here.',
      tags,
      security,
      params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } } as const,
      body: { type: 'object', additionalProperties: false, properties: { amount: inputSchemas.positiveAmount, reference: inputSchemas.reference, refundedAt: inputSchemas.instant } } as const,
      response: { 201: { $ref: 'Payment#' }, 202: { type: 'object', properties: { refundId: { type: 'string' }, status: { type: 'string' }, amount: { type: 'integer' } } }, ...errors },
    },
    handler: async (request, reply) => {
      const payment = await ctx.readStore.get<PaymentView>(C.payments, request.params.id);
      if (!payment) throw notFound('payment');
      const body = request.body ?? {};
      if (payment.method === 'credit_balance') throw new HttpError(409, 'not_refundable', 'this payment was settled from the organization\'s credit; no money was paid in to return');
      if (payment.provider === 'stripe') {
        // An intent in our log first; the provider outbox asks Stripe with that event's id as the key.
        const amount = body.amount ?? payment.amount - payment.refundedAmount;
        const requestId = deterministicUuid(`${request.commandId}:refund`);
        const meta = commandMetadata(request, ctx, payment.organizationId);
        await runCommand(ctx, stripePaymentDecider, stripePaymentStream(payment.id), { type: 'RequestRefund', data: { requestId, amount }, metadata: meta }, { consistent: false });
        const outcome = await providerOutcome(ctx, stripePaymentStream(payment.id), requestId, ['billing.refund.submitted', 'billing.refund.failed']);
        if (!outcome) throw new NotYetVisibleError(['the payment provider']);
        if (outcome.event.type === 'billing.refund.failed') throw providerRefused(outcome.event.data as { code: string; message: string });
        const submitted = outcome.event.data as { refundId: string; status: string; amount: number };
        reply.code(202);
        return { refundId: submitted.refundId, status: submitted.status, amount: submitted.amount };
      }
      if (!payment.invoiceId) throw new HttpError(409, 'not_refundable', 'this payment is not attached to an invoice');
      if (!body.reference || !body.refundedAt) throw new HttpError(422, 'invalid_request', 'a bank transfer refund needs the reference and refundedAt of the transfer that returned the money');
      const meta = commandMetadata(request, ctx, payment.organizationId);
      // Without an amount, the receivable refunds what of the payment is still applied to the invoice.
      await recordManualRefund(ctx, meta, payment.invoiceId, { paymentId: payment.id, ...(body.amount === undefined ? {} : { amount: body.amount }), reference: body.reference, refundedAt: toUtc(body.refundedAt) });
      reply.code(201);
      return ctx.readStore.get<PaymentView>(C.payments, payment.id);
    },
  });

  app.put('/v1/admin/organizations/:id/billing-terms', {
    config: { auth: 'admin' },
    schema: {
      summary: "Set an organization's payment terms: the collection methods it may choose, days to pay an invoice",
      description: 'Applies to subscriptions started after the change; each invoice keeps the terms its charge carried.',
      tags,
      security,
      params: inputSchemas.idParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['collectionMethods', 'daysUntilDue'],
        properties: {
          collectionMethods: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: collectionMethods } },
          daysUntilDue: { type: 'integer', minimum: 0, maximum: 365 },
        },
      } as const,
      response: { 200: { $ref: 'BillingTerms#' }, ...errors },
    },
    handler: async (request) => {
      const organizationId = request.params.id;
      await customerOf(ctx, organizationId);
      await setBillingTerms(ctx, deps.provider.kind, commandMetadata(request, ctx, organizationId), request.body);
      return billingTermsOf(ctx, deps.provider.kind, organizationId);
    },
  });

  app.get('/v1/admin/remittance-advice', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Remittance advice customers sent, newest first: transfers to look out for',
      tags,
      security,
      querystring: { type: 'object', additionalProperties: false, properties: { organizationId: { type: 'string', format: 'uuid' }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 } } } as const,
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: { $ref: 'RemittanceAdvice#' } } } }, ...problemResponses(400, 401) },
    },
    handler: async (request) => {
      const filter: Filter = request.query.organizationId ? { organizationId: request.query.organizationId } : {};
      return { data: await ctx.readStore.find<RemittanceAdviceView>(C.remittanceAdvice, filter, { orderBy: 'recordedAt', direction: 'desc', limit: request.query.limit }) };
    },
  });
}
