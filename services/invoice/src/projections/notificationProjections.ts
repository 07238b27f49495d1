import type { BillingEvent, NotificationEvent, NotificationKind, NotificationRequested } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection } from '@curbmap/eventsourcing';

export const notificationCollections = { endpoints: 'webhook_endpoints', messages: 'webhook_messages', renewals: 'notification_renewals', paymentReminders: 'notification_payment_reminders' } as const;
const C = notificationCollections;

/** An endpoint as its organization sees it: never its secret. */
export interface WebhookEndpointView extends Document {
  url: string;
  events: NotificationKind[];
  description: string | null;
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  createdAt: string;
  secretRotatedAt: string | null;
}

export interface WebhookAttemptView {
  attempt: number;
  attemptedAt: string;
  status: number | null;
  outcome: 'delivered' | 'failed';
  error: string | null;
  durationMs: number;
}

/** A message to an endpoint with every attempt (the delivery log), and when the next one is due. */
export interface WebhookMessageView extends Document {
  endpointId: string;
  notificationId: string;
  eventType: NotificationKind;
  payload: Record<string, unknown>;
  status: 'pending' | 'delivered' | 'failed';
  attempts: WebhookAttemptView[];
  /** Set while pending: the worker sends it once this instant has passed. */
  nextAttemptAt: string | null;
  createdAt: string;
  deliveredAt: string | null;
  /** Its first failed attempt: how long an endpoint has been failing is read from these. */
  firstFailedAt: string | null;
}

type EndpointEvent = Extract<NotificationEvent, { type: `webhook.endpoint.${string}` }>;
type MessageEvent = Extract<NotificationEvent, { type: 'webhook.message.created' | 'webhook.attempt.recorded' | 'webhook.message.redelivery_requested' }>;

export const webhookEndpointsProjection: Projection = {
  name: 'invoice.webhook_endpoints.v1',
  filter: { categories: ['webhookendpoint'] },
  collections: [C.endpoints],
  indexes: { [C.endpoints]: ['status'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as EndpointEvent;
    const id = event.data.endpointId;
    if (event.type === 'webhook.endpoint.deleted') {
      await tx.delete(C.endpoints, id);
      return;
    }
    await updateOnce<WebhookEndpointView>(tx, C.endpoints, id, stored, (current) => {
      switch (event.type) {
        case 'webhook.endpoint.created':
          return { id, organizationId: stored.organizationId, url: event.data.url, events: event.data.events, description: event.data.description, status: 'enabled', disabledReason: null, createdAt: stored.occurredAt, secretRotatedAt: null };
        case 'webhook.endpoint.secret_rotated':
          return current && { ...current, secretRotatedAt: stored.occurredAt };
        case 'webhook.endpoint.disabled':
          return current && { ...current, status: 'disabled', disabledReason: event.data.detail };
        case 'webhook.endpoint.enabled':
          return current && { ...current, status: 'enabled', disabledReason: null };
        default: {
          const never: never = event;
          return never;
        }
      }
    });
  },
};

export const webhookMessagesProjection: Projection = {
  name: 'invoice.webhook_messages.v1',
  filter: { categories: ['webhookmessage'] },
  collections: [C.messages],
  indexes: { [C.messages]: ['status', 'nextAttemptAt', 'endpointId', 'createdAt', 'deliveredAt', 'firstFailedAt'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as MessageEvent;
    const id = event.data.messageId;
    await updateOnce<WebhookMessageView>(tx, C.messages, id, stored, (current) => {
      switch (event.type) {
        case 'webhook.message.created':
          return { id, organizationId: stored.organizationId, endpointId: event.data.endpointId, notificationId: event.data.notificationId, eventType: event.data.eventType, payload: event.data.payload, status: 'pending', attempts: [], nextAttemptAt: stored.occurredAt, createdAt: stored.occurredAt, deliveredAt: null, firstFailedAt: null };
        case 'webhook.attempt.recorded': {
          if (!current) return null;
          const { attempt, attemptedAt, status, outcome, error, durationMs, nextAttemptAt } = event.data;
          const delivered = outcome === 'delivered';
          return {
            ...current,
            attempts: [...current.attempts, { attempt, attemptedAt, status, outcome, error, durationMs }],
            status: delivered ? 'delivered' : nextAttemptAt ? 'pending' : 'failed',
            nextAttemptAt,
            deliveredAt: delivered ? attemptedAt : current.deliveredAt,
            firstFailedAt: !delivered ? (current.firstFailedAt ?? attemptedAt) : current.firstFailedAt,
          };
        }
        case 'webhook.message.redelivery_requested':
          return current && { ...current, status: 'pending', nextAttemptAt: stored.occurredAt };
        default: {
          const never: never = event;
          return never;
        }
      }
    });
  },
};

/** When each subscription renews next, for the reminders 30 and 7 days before. */
export interface RenewalView extends Document {
  subscriptionId: string;
  planId: string;
  planName: string;
  /** The price version the current year was sold at (absent: sold before price versions). */
  planVersion?: number;
  seats: number;
  /** Per seat per year now, in the subscription's currency. */
  unitAmount: number;
  currency: string;
  /** Who renews it: Stripe renews on its own clock at the price it holds (no renewal policy applies). */
  provider?: string;
  /** A plan change waiting for the renewal (a downgrade): what renews. */
  pendingPlan?: { planId: string; name: string; unitAmount: number; version?: number } | null;
  renewsAt: string;
  /** A subscription set to cancel at its period's end, or canceled, does not renew. */
  renews: boolean;
}

const renewalTypes = ['billing.subscription.activated', 'billing.subscription.renewed', 'billing.subscription.seats_changed', 'billing.subscription.plan_changed', 'billing.subscription.cancellation_scheduled', 'billing.subscription.cancellation_unscheduled', 'billing.subscription.canceled'] as const;

export const renewalsProjection: Projection = {
  // v2: the plan, its version and the price, for a notice that states a price change.
  name: 'invoice.renewals.v2',
  filter: { types: [...renewalTypes] },
  collections: [C.renewals],
  indexes: { [C.renewals]: ['renewsAt'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as Extract<BillingEvent, { type: (typeof renewalTypes)[number] }>;
    const id = event.data.subscriptionId;
    await updateOnce<RenewalView>(tx, C.renewals, id, stored, (current) => {
      switch (event.type) {
        case 'billing.subscription.activated':
        case 'billing.subscription.renewed': {
          const d = event.data;
          const provider = event.type === 'billing.subscription.activated' ? event.data.provider : current?.provider;
          return { id, organizationId: stored.organizationId, subscriptionId: id, planId: d.planId, planName: d.planName, ...(d.planVersion ? { planVersion: d.planVersion } : {}), seats: d.seats, unitAmount: d.unitAmount, currency: d.currency, ...(provider ? { provider } : {}), pendingPlan: null, renewsAt: d.periodEnd, renews: true };
        }
        case 'billing.subscription.seats_changed':
          // A change Stripe confirms now replaces whatever was waiting for the renewal there.
          return current && event.data.effective === 'now' ? { ...current, seats: event.data.to, ...(current.provider === 'stripe' ? { pendingPlan: null } : {}) } : current;
        case 'billing.subscription.plan_changed': {
          if (!current) return current;
          if (event.data.effective !== 'now') {
            const d = event.data;
            return { ...current, pendingPlan: d.toPlanId === current.planId ? null : { planId: d.toPlanId, name: d.toPlanName, unitAmount: d.unitAmount, ...(d.planVersion ? { version: d.planVersion } : {}) } };
          }
          const { planVersion: _previous, ...rest } = current;
          // As billing's state: a change that takes effect now drops a plan change waiting for the renewal.
          return { ...rest, planId: event.data.toPlanId, planName: event.data.toPlanName, unitAmount: event.data.unitAmount, ...(event.data.planVersion ? { planVersion: event.data.planVersion } : {}), pendingPlan: null };
        }
        case 'billing.subscription.cancellation_scheduled':
        case 'billing.subscription.canceled':
          return current && { ...current, renews: false };
        case 'billing.subscription.cancellation_unscheduled':
          // Reactivated at Stripe: what was waiting for the renewal there is dropped, as billing's state drops it.
          return current && { ...current, renews: true, ...(current.provider === 'stripe' ? { pendingPlan: null } : {}) };
        default: {
          const never: never = event;
          return never;
        }
      }
    });
  },
};

/** A payment reminder requested for an invoice (one per invoice and day of the schedule), shown beside it. */
export interface PaymentReminderView extends Document {
  invoiceId: string;
  daysFromDue: number;
  requestedAt: string;
}

export const paymentRemindersProjection: Projection = {
  name: 'invoice.payment_reminders.v1',
  filter: { types: ['notification.requested'] },
  collections: [C.paymentReminders],
  indexes: { [C.paymentReminders]: ['invoiceId'] },
  async apply(stored, tx) {
    const { notificationId, kind, data } = (stored as unknown as NotificationRequested).data;
    if (kind !== 'invoice.payment_reminder') return;
    await updateOnce<PaymentReminderView>(tx, C.paymentReminders, notificationId, stored, () => ({ id: notificationId, organizationId: stored.organizationId, invoiceId: String(data['invoiceId']), daysFromDue: Number(data['daysFromDue']), requestedAt: stored.occurredAt }));
  },
};
