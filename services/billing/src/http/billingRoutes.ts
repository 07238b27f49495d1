import type { FastifyInstance } from 'fastify';
import { billingPlans } from '../projections/planProjection.ts';
import { collectionMethods } from '@curbmap/contracts';
import { commandMetadata, getScoped, HttpError, inputSchemas, keyAuth, organizationKeyAuth, organizationReadAuth, problemResponses, toUtc, type SchemaTypes } from '@curbmap/service-kit';
import type { SubscriptionEvent } from '../domain/subscription/subscriptionDecider.ts';
import { cancelSubscription, changeSubscription, createSubscription, customerOf, providerCall, reactivateSubscription, subscriptionOf, type BillingDeps } from '../application/subscriptionCommands.ts';
import { recordRemittanceAdvice } from '../application/receivableCommands.ts';
import { billingTermsOf } from '../application/billingTermsCommands.ts';
import { billingCollections as C, type CreditView, type PaymentView, type ReceivableView, type RemittanceAdviceView, type SubscriptionView } from '../projections/billingProjections.ts';
import { billingSchemas } from './billingSchemas.ts';

const security = [{ apiKey: [] }];
const tags = ['billing'];
const errors = problemResponses(400, 401, 402, 403, 404, 409, 422, 502);

/** The public shape of a subscription read model. */
export function presentSubscription(view: SubscriptionView) {
  const s = view.state;
  const pending = s.pending ? { ...(s.pending.seats !== undefined ? { seats: s.pending.seats } : {}), ...(s.pending.plan ? { planId: s.pending.plan.planId } : {}), effectiveAt: s.period.end } : null;
  return {
    id: s.subscriptionId, status: s.status, planId: s.planId, planName: s.planName, seats: s.seats, currency: s.currency, unitAmount: s.unitAmount, planVersion: s.planVersion ?? null, annualAmount: s.seats * s.unitAmount,
    collectionMethod: s.collectionMethod, daysUntilDue: s.daysUntilDue, poNumber: s.poNumber, timeZone: s.timeZone, currentPeriodStart: s.period.start, currentPeriodEnd: s.period.end,
    cancelAtPeriodEnd: s.cancelAtPeriodEnd, pendingChange: pending, provider: s.provider, providerSubscriptionId: s.providerSubscriptionId,
    providerRequest: s.providerRequest ? { action: s.providerRequest.action, seats: s.providerRequest.seats, planId: s.providerRequest.planId, effective: s.providerRequest.effective } : null,
    createdAt: view.createdAt, updatedAt: view.updatedAt,
  };
}

function presentChange(events: SubscriptionEvent[]) {
  const e = events.find((x) => x.type === 'billing.subscription.seats_changed' || x.type === 'billing.subscription.plan_changed');
  if (!e || (e.type !== 'billing.subscription.seats_changed' && e.type !== 'billing.subscription.plan_changed')) return { effective: 'none', effectiveAt: null, amount: 0, lines: [] };
  return { effective: e.data.effective, effectiveAt: e.data.effectiveAt, amount: e.data.amount, currency: e.data.currency, lines: e.data.lines };
}

export async function billingRoutes(fastify: FastifyInstance, deps: BillingDeps): Promise<void> {
  const { ctx } = deps;
  const app = fastify.withTypeProvider<SchemaTypes>();
  for (const schema of billingSchemas) app.addSchema(schema);
  const current = (organizationId: string) => subscriptionOf(ctx, organizationId);

  app.get('/v1/plans', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'The annual plans on sale, each at its price version in effect now', tags, security, response: { 200: { type: 'object', properties: { data: { type: 'array', items: { $ref: 'Plan#' } } } }, ...problemResponses(401) } },
    handler: async () => ({ data: await billingPlans(ctx).inEffect(ctx.now().toISOString()) }),
  });

  app.post('/v1/subscription', {
    // The answer may hold a payment's client secret: an Idempotency-Key retry runs again rather than replay a stored copy.
    config: { auth: 'key', minRole: 'billing_admin', responseContainsSecret: true },
    schema: {
      summary: 'Subscribe the organization to an annual plan',
      description: 'The period runs from local midnight in the organization time zone for one year. With send_invoice an invoice is issued at once, due after the days your payment terms give (default 30).',
      tags,
      security,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['planId', 'seats'],
        properties: {
          planId: { type: 'string', minLength: 1 },
          seats: { type: 'integer', minimum: 1, maximum: 100_000 },
          collectionMethod: { type: 'string', enum: collectionMethods, description: 'One of the methods your payment terms allow (GET /v1/billing-terms); default: the first' },
          poNumber: { type: 'string', minLength: 1, maxLength: 100 },
        },
      } as const,
      response: { 201: { $ref: 'Subscription#' }, ...errors },
    },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'change billing');
      await createSubscription(deps, commandMetadata(request, ctx, auth.organizationId), request.body);
      reply.code(201).header('location', '/v1/subscription');
      const view = await current(auth.organizationId);
      return { ...presentSubscription(view), paymentConfirmation: await confirmationOf(view) };
    },
  });

  /** Fetched from the provider when asked, never stored: a client secret belongs in the customer's browser only. */
  const confirmationOf = async (view: SubscriptionView) =>
    view.state.status === 'incomplete' && view.state.providerSubscriptionId ? providerCall(() => deps.provider.paymentConfirmation({ providerSubscriptionId: view.state.providerSubscriptionId! })) : null;

  app.get('/v1/subscription/payment-confirmation', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'What the browser needs to confirm the first card payment of an incomplete subscription (SCA)',
      description: 'Pass clientSecret to Stripe.js (stripe.confirmPayment). The subscription becomes active when Stripe reports the payment, not before.',
      tags,
      security,
      response: { 200: { type: 'object', properties: { clientSecret: { type: 'string' }, type: { type: 'string' }, invoiceId: { type: 'string' } } }, ...problemResponses(401, 403, 404, 502) },
    },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'confirm payments');
      const confirmation = await confirmationOf(await current(auth.organizationId));
      if (!confirmation) throw new HttpError(404, 'not_found', 'no payment is waiting for confirmation');
      return confirmation;
    },
  });

  app.get('/v1/subscription', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: "The organization's subscription", tags, security, response: { 200: { $ref: 'Subscription#' }, ...problemResponses(401, 404) } },
    handler: async (request) => presentSubscription(await current(keyAuth(request).organizationId)),
  });

  app.patch('/v1/subscription', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'Change seats or plan',
      description: 'More seats or a higher plan apply now and are prorated to the second (Stripe rule); fewer seats or a lower plan apply at renewal.',
      tags,
      security,
      body: {
        type: 'object',
        additionalProperties: false,
        oneOf: [{ required: ['seats'] }, { required: ['planId'] }],
        properties: { seats: { type: 'integer', minimum: 1, maximum: 100_000 }, planId: { type: 'string', minLength: 1 } },
      } as const,
      response: { 200: { type: 'object', properties: { subscription: { $ref: 'Subscription#' }, change: { $ref: 'SubscriptionChange#' } } }, ...errors },
    },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'change billing');
      const result = await changeSubscription(deps, commandMetadata(request, ctx, auth.organizationId), request.body);
      return { subscription: presentSubscription(await current(auth.organizationId)), change: presentChange(result.events) };
    },
  });

  app.post('/v1/subscription/cancel', {
    config: { auth: 'key', minRole: 'billing_admin', pollLocation: '/v1/subscription' },
    schema: {
      summary: 'Cancel at period end (or now with atPeriodEnd: false)',
      tags,
      security,
      body: { type: 'object', additionalProperties: false, required: ['atPeriodEnd'], properties: { atPeriodEnd: { type: 'boolean' } } } as const,
      response: { 200: { $ref: 'Subscription#' }, ...errors },
    },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'change billing');
      await cancelSubscription(deps, commandMetadata(request, ctx, auth.organizationId), request.body.atPeriodEnd);
      return presentSubscription(await current(auth.organizationId));
    },
  });

  app.post('/v1/subscription/reactivate', {
    config: { auth: 'key', minRole: 'billing_admin', pollLocation: '/v1/subscription' },
    schema: { summary: 'Undo a cancellation scheduled for the period end', tags, security, response: { 200: { $ref: 'Subscription#' }, ...errors } },
    handler: async (request) => {
      const auth = organizationKeyAuth(request, 'change billing');
      await reactivateSubscription(deps, commandMetadata(request, ctx, auth.organizationId));
      return presentSubscription(await current(auth.organizationId));
    },
  });

  app.post('/v1/invoices/:id/remittance-advice', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'Tell the operator a bank transfer was sent for an invoice (remittance advice)',
      description: 'Informs the platform operator, who records the payment once the money arrives. It settles nothing by itself; the invoice stays open until then. Sending the same reference again changes nothing.',
      tags: ['payments'],
      security,
      params: inputSchemas.idParams,
      body: { type: 'object', additionalProperties: false, required: ['amount', 'reference', 'sentAt'], properties: { amount: inputSchemas.positiveAmount, reference: inputSchemas.reference, sentAt: inputSchemas.instant } } as const,
      response: { 202: { $ref: 'RemittanceAdvice#' }, ...errors },
    },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'send remittance advice');
      const receivable = await getScoped<ReceivableView>(ctx.readStore, auth, C.receivables, request.params.id, 'invoice');
      const { amount, reference, sentAt } = request.body;
      await recordRemittanceAdvice(ctx, commandMetadata(request, ctx, auth.organizationId), receivable.id, { amount, reference, sentAt: toUtc(sentAt) });
      reply.code(202);
      const [advice] = await ctx.readStore.find<RemittanceAdviceView>(C.remittanceAdvice, { organizationId: auth.organizationId, invoiceId: receivable.id, reference }, { limit: 1 });
      return advice;
    },
  });

  app.get('/v1/billing-terms', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'The payment terms the operator granted: collection methods to choose from and days to pay',
      tags,
      security,
      response: { 200: { $ref: 'BillingTerms#' }, ...problemResponses(401, 403) },
    },
    handler: async (request) => billingTermsOf(ctx, deps.provider.kind, organizationReadAuth(request, 'the payment terms').organizationId),
  });

  app.get('/v1/credit-balance', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'Credit from over-payments, spent automatically on the next invoices',
      tags: ['payments'],
      security,
      response: { 200: { type: 'object', properties: { balances: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Minor units by currency' } } }, ...problemResponses(401, 403) },
    },
    handler: async (request) => ({ balances: (await ctx.readStore.get<CreditView>(C.credit, organizationReadAuth(request, 'the credit balance').organizationId))?.balances ?? {} }),
  });

  app.get('/v1/payments', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: { summary: 'Payments received', tags: ['payments'], security, response: { 200: { type: 'object', properties: { data: { type: 'array', items: { $ref: 'Payment#' } } } }, ...problemResponses(401, 403) } },
    handler: async (request) => ({ data: await ctx.readStore.find<PaymentView>(C.payments, { organizationId: organizationReadAuth(request, 'payments').organizationId }, { orderBy: 'receivedAt', direction: 'desc' }) }),
  });

  app.post('/v1/payment-methods/setup-intent', {
    config: { auth: 'key', minRole: 'billing_admin' },
    schema: {
      summary: 'Start collecting a card: returns a Stripe SetupIntent client secret',
      tags: ['payments'],
      security,
      response: { 201: { type: 'object', properties: { clientSecret: { type: 'string' }, setupIntentId: { type: 'string' } } }, ...errors },
    },
    handler: async (request, reply) => {
      const auth = organizationKeyAuth(request, 'add payment methods');
      const customer = await customerOf(ctx, auth.organizationId);
      const intent = await providerCall(() => deps.provider.createSetupIntent({ customer, idempotencyKey: `${request.commandId}:setup-intent` }));
      reply.code(201);
      return intent;
    },
  });
}
