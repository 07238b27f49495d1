import type { FastifyInstance } from 'fastify';
import { HttpError, problemResponses, type ServiceContext } from '@curbmap/service-kit';
import type { BillingScheduler } from '../application/billingScheduler.ts';
import { reconcileStripeEvents, type ListStripeEvents } from '../application/stripeReconciliation.ts';

const tags = ['operations'];
const security = [{ adminToken: [] }];

/** Platform operations on billing (admin token). */
export async function adminBillingRoutes(app: FastifyInstance, ctx: ServiceContext, scheduler: () => BillingScheduler | null, listStripeEvents: ListStripeEvents | null): Promise<void> {
  app.post('/v1/admin/stripe/reconcile', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Fetch Stripe events missed by webhooks and apply them (also runs hourly)',
      tags,
      security,
      response: { 200: { type: 'object', properties: { since: { type: 'integer' }, until: { type: 'integer' }, seen: { type: 'integer' }, stored: { type: 'integer' } } }, ...problemResponses(401, 409) },
    },
    handler: async () => {
      if (!listStripeEvents) throw new HttpError(409, 'stripe_not_configured', 'Stripe is not configured (STRIPE_SECRET_KEY); there is nothing to reconcile');
      return reconcileStripeEvents(ctx, listStripeEvents);
    },
  });

  app.post('/v1/admin/billing/run-scheduler', {
    config: { auth: 'admin' },
    schema: {
      summary: 'Run one billing scheduler pass now (renewals, overdue invoices)',
      tags,
      security,
      response: { 200: { type: 'object', properties: { renewed: { type: 'integer' }, pastDue: { type: 'integer' }, unpaid: { type: 'integer' } } }, ...problemResponses(401, 503) },
    },
    handler: async () => {
      const s = scheduler();
      if (!s) throw new HttpError(503, 'unavailable', 'the billing scheduler is not running');
      return s.tick();
    },
  });
}
