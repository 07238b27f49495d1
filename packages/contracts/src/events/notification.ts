import type { EventContract } from '../eventRegistry.ts';
import { instant, object, uuid, type EventsOf } from './common.ts';

/**
 * What an organization is told, by e-mail and by webhook: the public event types of our outgoing webhooks.
 * `webhook_endpoint.disabled` goes by e-mail only (the endpoint it is about no longer receives).
 */
export const notificationKinds = ['invoice.issued', 'invoice.payment_reminder', 'invoice.overdue', 'payment.received', 'payment.failed', 'subscription.renewal_due', 'quota.threshold_reached', 'export.completed', 'webhook_endpoint.disabled'] as const;
export type NotificationKind = (typeof notificationKinds)[number];
/** The kinds a webhook endpoint can subscribe to. */
export const webhookEventTypes = notificationKinds.filter((k) => k !== 'webhook_endpoint.disabled');

const kind = { enum: [...notificationKinds] } as const;
const text = { type: 'string' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const nullableInstant = { anyOf: [instant, { type: 'null' }] } as const;
export const webhookSecret = { type: 'string', pattern: '^whsec_[A-Za-z0-9+/]{32,}={0,2}$' } as const;

/**
 * Notifications (stream notification-<id>, the id derived from the cause: one per cause, whatever the redelivery),
 * webhook endpoints (webhookendpoint-<id>) and messages to them (webhookmessage-<id>, one per notification and endpoint).
 */
const notificationEventSchemas = {
  /** `cause`: the causing event's id, or for a time-driven notification what it is about (`renewal:<sub>:<period end>:30`). */
  'notification.requested': object({ notificationId: uuid, kind, cause: { type: 'string', minLength: 1 }, data: { type: 'object' } }),
  /** `messageId`: the Message-ID, derived from the notification (a resend after a crash is recognisably the same mail). */
  'notification.email.sent': object({ notificationId: uuid, to: { type: 'array', items: text }, messageId: text, attachments: { type: 'array', items: text } }),
  /** The secret is kept to sign; it is shown once, when created or rotated. */
  'webhook.endpoint.created': object({ endpointId: uuid, url: { type: 'string', format: 'uri' }, events: { type: 'array', minItems: 1, items: kind }, description: nullableText, secret: webhookSecret }),
  /** Both secrets sign until `previousExpiresAt`, so a receiver can switch without losing a message. */
  'webhook.endpoint.secret_rotated': object({ endpointId: uuid, secret: webhookSecret, previousExpiresAt: instant }),
  /** `gone`: it answered 410; `failing`: every attempt failed for 5 days. */
  'webhook.endpoint.disabled': object({ endpointId: uuid, reason: { enum: ['gone', 'failing'] }, detail: text }),
  'webhook.endpoint.enabled': object({ endpointId: uuid }),
  'webhook.endpoint.deleted': object({ endpointId: uuid }),
  'webhook.message.created': object({ messageId: uuid, endpointId: uuid, notificationId: uuid, eventType: kind, payload: { type: 'object' } }),
  /** One HTTP attempt; `nextAttemptAt` null: no more attempts (delivered, given up, or the endpoint is gone). */
  'webhook.attempt.recorded': object({
    messageId: uuid,
    endpointId: uuid,
    attempt: { type: 'integer', minimum: 1 },
    attemptedAt: instant,
    status: { type: ['integer', 'null'] },
    outcome: { enum: ['delivered', 'failed'] },
    error: nullableText,
    durationMs: { type: 'integer', minimum: 0 },
    nextAttemptAt: nullableInstant,
  }),
  /** Asked by the organization: the message is sent again (a new series of attempts), with the same webhook-id. */
  'webhook.message.redelivery_requested': object({ messageId: uuid, endpointId: uuid }),
};

export type NotificationEvent = EventsOf<typeof notificationEventSchemas>;
export type NotificationRequested = Extract<NotificationEvent, { type: 'notification.requested' }>;

export const notificationContracts: EventContract[] = Object.entries(notificationEventSchemas).map(([type, schema]) => ({ type, schema, schemaVersion: 1 }));
