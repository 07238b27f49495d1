import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { HttpError, problemResponses, type ServiceContext } from '@curbmap/service-kit';
import { stripeEventProblem, type StripeEventLike } from '../adapters/stripe/stripeObjects.ts';
import { ingestStripeEvent } from '../application/stripeEventIngest.ts';

/** Stripe's default: a signature older than five minutes is refused (replay protection). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * POST /webhooks/stripe: verify the signature on the raw body, store the event once, answer 200 at once.
 * Applying it is asynchronous (Stripe wants a fast answer and retries for three days otherwise).
 */
export async function stripeWebhookRoutes(app: FastifyInstance, ctx: ServiceContext, webhookSecret: string | null): Promise<void> {
  // Without STRIPE_WEBHOOK_SECRET there is no such endpoint (404), rather than one that always fails.
  if (!webhookSecret) return;
  await app.register(async (scope) => {
    // The signature covers the exact bytes: keep the body raw in this scope only.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    scope.post('/webhooks/stripe', {
      // Stored once per Stripe event id: Stripe's retry of a delivery whose outcome was lost is safe.
      config: { auth: 'public', rateLimit: false, replaySafe: true } as never,
      schema: {
        summary: 'Stripe webhook endpoint (signed with STRIPE_WEBHOOK_SECRET)',
        tags: ['webhooks'],
        headers: { type: 'object', properties: { 'stripe-signature': { type: 'string' } } },
        response: { 200: { type: 'object', properties: { received: { type: 'boolean' }, duplicate: { type: 'boolean' } } }, ...problemResponses(400) },
      },
      handler: async (request) => {
        const signature = request.headers['stripe-signature'];
        if (!signature) throw new HttpError(400, 'missing_signature', 'the Stripe-Signature header is missing');
        const raw = request.body as Buffer | undefined;
        if (!raw || raw.length === 0) throw new HttpError(400, 'empty_body', 'the request body is empty');
        let event: StripeEventLike;
        try {
          event = Stripe.webhooks.constructEvent(raw, signature, webhookSecret, WEBHOOK_TOLERANCE_SECONDS) as unknown as StripeEventLike;
        } catch (err) {
          // The signature is checked first; a body that then fails to parse is not JSON.
          if ((err as { type?: string }).type === 'StripeSignatureVerificationError') {
            throw new HttpError(400, 'invalid_signature', `signature verification failed: ${(err as Error).message}`);
          }
          throw new HttpError(400, 'invalid_webhook', 'the body is not JSON');
        }
        const problem = stripeEventProblem(event);
        if (problem) throw new HttpError(400, 'invalid_webhook', `not a Stripe event we can store: ${problem}`);
        const outcome = await ingestStripeEvent(ctx, event, 'webhook');
        request.log.info({ stripeEventId: event.id, type: event.type, outcome }, 'stripe webhook');
        return { received: true, duplicate: outcome === 'duplicate' };
      },
    });
  });
}
