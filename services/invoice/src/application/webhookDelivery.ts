import type { NotificationRequested } from '@curbmap/contracts';
import { deterministicUuid, loadState, type StreamWrite } from '@curbmap/eventsourcing';
import { periodicPass, reactionMetadata, runCommand, type Running, type ServiceContext } from '@curbmap/service-kit';
import type { WebhookSender } from '../adapters/httpWebhookSender.ts';
import { signingSecrets, webhookEndpointDecider, webhookEndpointStream, type WebhookEndpointState } from '../domain/webhook/webhookEndpointDecider.ts';
import { isDelivered, webhookMessageDecider, webhookMessageStream } from '../domain/webhook/webhookMessageDecider.ts';
import { notificationCollections as C, type WebhookEndpointView, type WebhookMessageView } from '../projections/notificationProjections.ts';
import { stillOwed } from './dunning.ts';

/** An endpoint whose every attempt failed for this long is disabled (and its organization told by e-mail). */
export const DISABLE_FAILING_AFTER_MS = 5 * 86_400_000;

export interface WebhookDelivery extends Running {
  /** One pass over the due messages at an instant (tests, operators); also runs every intervalMs and after each new message. */
  tick(at?: Date): Promise<{ attempted: number; delivered: number }>;
}

const endpointState = (ctx: ServiceContext, endpointId: string) => loadState(ctx.store, webhookEndpointDecider, webhookEndpointStream(endpointId));
const messageState = (ctx: ServiceContext, messageId: string) => loadState(ctx.store, webhookMessageDecider, webhookMessageStream(messageId));

/** Since when the endpoint has failed without a delivery in between (its first failure after its last delivery). */
async function failingSince(ctx: ServiceContext, endpointId: string, failedNow: string): Promise<string> {
  const [lastDelivered] = await ctx.readStore.find<WebhookMessageView>(C.messages, { endpointId, deliveredAt: { $gt: '' } }, { orderBy: 'deliveredAt', direction: 'desc', limit: 1 });
  const [firstFailed] = await ctx.readStore.find<WebhookMessageView>(C.messages, { endpointId, firstFailedAt: { $gt: lastDelivered?.deliveredAt ?? '' } }, { orderBy: 'firstFailedAt', limit: 1 });
  return firstFailed?.firstFailedAt && firstFailed.firstFailedAt < failedNow ? firstFailed.firstFailedAt : failedNow;
}

/**
 * An attempt made this long after it was due means the platform was away (down, or its clock moved on): while it
 * catches up, an endpoint is not disabled for failing, since it was not tried meanwhile and the attempts being
 * caught up may yet succeed. Once attempts are on time again, the 5-day rule applies as before.
 */
export const LATE_ATTEMPT_MS = 86_400_000;

/** Whether this attempt, or another of the endpoint's still pending, is late by more than LATE_ATTEMPT_MS. */
async function catchingUp(ctx: ServiceContext, endpointId: string, at: Date, dueAt: string | null): Promise<boolean> {
  if (dueAt !== null && at.getTime() - Date.parse(dueAt) > LATE_ATTEMPT_MS) return true;
  const overdue = await ctx.readStore.find<WebhookMessageView>(C.messages, { endpointId, status: 'pending', nextAttemptAt: { $lt: new Date(at.getTime() - LATE_ATTEMPT_MS).toISOString() } }, { limit: 1 });
  return overdue.length > 0;
}

/**
 * Outgoing webhooks (Standard Webhooks): each notification becomes one message per subscribed endpoint, sent
 * signed with `webhook-id` = the message id (the same on every attempt, so receivers deduplicate), retried on
 * the standard's schedule; a 410 disables the endpoint, as does failing for 5 days. Every attempt is an event
 * (the delivery log). A crash between the HTTP call and its record sends that attempt again: at least once.
 */
export function startWebhookDelivery(ctx: ServiceContext, sender: WebhookSender, options: { intervalMs: number; concurrency?: number }): WebhookDelivery {
  const log = ctx.log.child({ component: 'webhook-delivery' });
  const concurrency = options.concurrency ?? 8;

  async function disable(endpointId: string, organizationId: string, at: string, reason: 'gone' | 'failing', detail: string) {
    await runCommand(ctx, webhookEndpointDecider, webhookEndpointStream(endpointId), { type: 'DisableEndpoint', data: { reason, detail }, metadata: { commandId: `webhook-disable:${endpointId}:${at}`, now: at, organizationId } }, { consistent: false });
    log.warn({ endpointId, reason, detail }, 'webhook endpoint disabled');
  }

  async function attempt(view: WebhookMessageView, at: Date, endpoints: Map<string, Promise<WebhookEndpointState>>): Promise<'delivered' | 'failed' | 'skipped'> {
    const atIso = at.toISOString();
    const message = await messageState(ctx, view.id);
    // The read model may lag the stream: the stream decides whether an attempt is due.
    if (message.status !== 'pending' || (message.nextAttemptAt && message.nextAttemptAt > atIso)) return 'skipped';
    if (!endpoints.has(message.endpointId)) endpoints.set(message.endpointId, endpointState(ctx, message.endpointId));
    const endpoint = await endpoints.get(message.endpointId)!;
    const n = message.attempts + 1;
    const metadata = { commandId: `webhook-attempt:${message.messageId}:${n}`, now: atIso, organizationId: view.organizationId };
    const record = (data: { status: number | null; error: string | null; durationMs: number; retryAfterMs: number | null; final: boolean }) =>
      runCommand(ctx, webhookMessageDecider, webhookMessageStream(message.messageId), { type: 'RecordAttempt', data: { attempt: n, ...data }, metadata }, { consistent: false });
    if (endpoint.status !== 'enabled') {
      // Kept for redelivery once the endpoint is enabled again; not sent meanwhile.
      await record({ status: null, error: `not sent: the endpoint is ${endpoint.status === 'none' ? 'deleted' : endpoint.status}`, durationMs: 0, retryAfterMs: null, final: true });
      return 'failed';
    }
    const response = await sender.send({ url: endpoint.url, id: message.messageId, timestamp: at, body: JSON.stringify(message.payload), secrets: signingSecrets(endpoint, atIso) });
    await record({ ...response, final: response.status === 410 });
    if (isDelivered(response.status)) return 'delivered';
    log.info({ messageId: message.messageId, endpointId: message.endpointId, attempt: n, status: response.status, error: response.error }, 'webhook attempt failed');
    let why: ['gone' | 'failing', string] | null = null;
    if (response.status === 410) why = ['gone', 'it answered 410 Gone'];
    else if (at.getTime() - Date.parse(await failingSince(ctx, message.endpointId, atIso)) >= DISABLE_FAILING_AFTER_MS && !(await catchingUp(ctx, message.endpointId, at, message.nextAttemptAt))) why = ['failing', 'every delivery failed for 5 days'];
    if (why) {
      // The rest of this pass sends nothing more to it.
      endpoints.set(message.endpointId, Promise.resolve({ ...endpoint, status: 'disabled' }));
      await disable(message.endpointId, view.organizationId, atIso, why[0], why[1]);
    }
    return 'failed';
  }

  const pass = periodicPass(
    async (at) => {
      const due = await ctx.readStore.find<WebhookMessageView>(C.messages, { status: 'pending', nextAttemptAt: { $lte: at.toISOString() } }, { orderBy: 'nextAttemptAt', limit: 500 });
      const endpoints = new Map<string, Promise<WebhookEndpointState>>();
      let attempted = 0;
      let delivered = 0;
      let next = 0;
      const worker = async () => {
        while (next < due.length) {
          const view = due[next++]!;
          try {
            const outcome = await attempt(view, at, endpoints);
            if (outcome !== 'skipped') attempted++;
            if (outcome === 'delivered') delivered++;
          } catch (err) {
            // Left pending: the next pass tries again.
            log.error({ err, messageId: view.id }, 'webhook attempt could not be recorded');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
      if (attempted > 0) log.info({ attempted, delivered }, 'webhook delivery pass');
      return { attempted, delivered };
    },
    { intervalMs: options.intervalMs, now: () => ctx.now(), onError: (err) => log.error({ err }, 'webhook delivery pass failed') },
  );
  const kick = () => void pass.tick().catch((err) => log.error({ err }, 'webhook delivery pass failed'));

  const dispatch = ctx.subscriptions.subscribe('invoice.webhook-dispatch.v1', { types: ['notification.requested'] }, async (batch) => {
    const writes: StreamWrite[] = [];
    for (const stored of batch) {
      const { notificationId, kind, data } = (stored as unknown as NotificationRequested).data;
      if (kind === 'webhook_endpoint.disabled') continue; // by e-mail only
      if (kind === 'invoice.payment_reminder' && !(await stillOwed(ctx, data['invoiceId']))) continue; // paid since it was requested
      const endpoints = await ctx.readStore.find<WebhookEndpointView>(C.endpoints, { organizationId: stored.organizationId, status: 'enabled' });
      for (const endpoint of endpoints.filter((e) => e.events.includes(kind))) {
        const messageId = deterministicUuid(`webhookmessage:${notificationId}:${endpoint.id}`);
        const payload = { type: kind, timestamp: stored.occurredAt, data };
        const result = await runCommand(ctx, webhookMessageDecider, webhookMessageStream(messageId), { type: 'CreateMessage', data: { messageId, endpointId: endpoint.id, notificationId, eventType: kind, payload }, metadata: reactionMetadata(stored, `webhook:${endpoint.id}`) }, { consistent: false });
        if (result.write) writes.push(result.write);
      }
    }
    if (writes.length === 0) return;
    // Sent right away ("immediately" is the schedule's first step) once the worker can see them.
    await Promise.all(writes.map((w) => ctx.waitForReadModels(w).catch(() => undefined)));
    kick();
  });

  return {
    tick: (at) => pass.tick(at),
    async stop() {
      await dispatch.stop();
      await pass.stop();
    },
  };
}

/** Sends a message again (a new series of attempts), e.g. after the endpoint was fixed. */
export async function redeliver(ctx: ServiceContext, messageId: string, organizationId: string, commandId: string): Promise<StreamWrite | null> {
  const result = await runCommand(ctx, webhookMessageDecider, webhookMessageStream(messageId), { type: 'RequestRedelivery', data: {}, metadata: { commandId, now: ctx.now().toISOString(), organizationId } });
  return result.write;
}
