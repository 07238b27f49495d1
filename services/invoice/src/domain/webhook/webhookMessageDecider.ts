import type { NotificationEvent, NotificationKind } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, type Command, type Decider } from '@curbmap/eventsourcing';

/** One notification to one endpoint, and every attempt to deliver it (stream webhookmessage-<id>). */
export const webhookMessageStream = (messageId: string) => `webhookmessage-${messageId}`;

/**
 * Standard Webhooks' retry schedule: the delay before each attempt of a series, after the failure of the one
 * before (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h). Ten attempts, then it gives up.
 */
export const RETRY_DELAYS_MS = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000] as const;
/** A Retry-After longer than the schedule's last step is held to it. */
const MAX_RETRY_AFTER_MS = 86_400_000;

export type CreateMessage = Command<'CreateMessage', { messageId: string; endpointId: string; notificationId: string; eventType: NotificationKind; payload: Record<string, unknown> }>;
/**
 * `status` null: no answer (refused, timed out); `retryAfterMs`: the receiver's Retry-After; `final`: no retry
 * whatever the outcome (the endpoint answered 410, or was disabled or deleted).
 */
export type RecordAttempt = Command<'RecordAttempt', { attempt: number; status: number | null; error: string | null; durationMs: number; retryAfterMs: number | null; final: boolean }>;
export type RequestRedelivery = Command<'RequestRedelivery', Record<string, never>>;
export type WebhookMessageCommand = CreateMessage | RecordAttempt | RequestRedelivery;
export type WebhookMessageEvent = Extract<NotificationEvent, { type: 'webhook.message.created' | 'webhook.attempt.recorded' | 'webhook.message.redelivery_requested' }>;

export type WebhookMessageState =
  | { status: 'none' }
  | {
      status: 'pending' | 'delivered' | 'failed';
      messageId: string;
      endpointId: string;
      eventType: NotificationKind;
      payload: Record<string, unknown>;
      /** Attempts so far, and how many of them came before the current series (a redelivery starts a new one). */
      attempts: number;
      seriesStart: number;
      nextAttemptAt: string | null;
    };

/** 2xx is delivered; anything else (3xx included: redirects are not followed) failed. */
export const isDelivered = (status: number | null) => status !== null && status >= 200 && status < 300;

/** When the next attempt of a series is due after attempt `inSeries` failed at `at`, or null when it gives up. */
export function nextAttemptAfter(inSeries: number, at: string, retryAfterMs: number | null): string | null {
  const delay = RETRY_DELAYS_MS[inSeries];
  if (delay === undefined) return null;
  // Honour the receiver's Retry-After: never sooner than it asked, never later than the schedule's longest step.
  const wait = Math.max(delay, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
  return new Date(Date.parse(at) + wait).toISOString();
}

export const webhookMessageDecider: Decider<WebhookMessageCommand, WebhookMessageEvent, WebhookMessageState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    if (command.type === 'CreateMessage') return state.status === 'none' ? [{ type: 'webhook.message.created', data: command.data }] : [];
    if (state.status === 'none') throw new NotFoundError('webhook message');
    const { messageId, endpointId } = state;
    if (command.type === 'RequestRedelivery') {
      // Already on its way: one series at a time.
      return state.status === 'pending' ? [] : [{ type: 'webhook.message.redelivery_requested', data: { messageId, endpointId } }];
    }
    const { attempt, status, error, durationMs, retryAfterMs, final } = command.data;
    // The same attempt recorded again (a retried command) changes nothing; any other is out of turn.
    if (attempt <= state.attempts) return [];
    if (state.status !== 'pending' || attempt !== state.attempts + 1) throw new IllegalStateError(`attempt ${attempt} is out of turn: ${state.attempts} made, message ${state.status}`);
    const at = command.metadata.now;
    const delivered = isDelivered(status);
    const nextAttemptAt = delivered || final ? null : nextAttemptAfter(attempt - state.seriesStart, at, retryAfterMs);
    return [{ type: 'webhook.attempt.recorded', data: { messageId, endpointId, attempt, attemptedAt: at, status, outcome: delivered ? 'delivered' : 'failed', error, durationMs, nextAttemptAt } }];
  },
  evolve(state, event) {
    switch (event.type) {
      case 'webhook.message.created':
        return { status: 'pending', ...event.data, attempts: 0, seriesStart: 0, nextAttemptAt: null };
      case 'webhook.attempt.recorded':
        if (state.status === 'none') return state;
        return { ...state, attempts: event.data.attempt, status: event.data.outcome === 'delivered' ? 'delivered' : event.data.nextAttemptAt ? 'pending' : 'failed', nextAttemptAt: event.data.nextAttemptAt };
      case 'webhook.message.redelivery_requested':
        return state.status === 'none' ? state : { ...state, status: 'pending', seriesStart: state.attempts, nextAttemptAt: null };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
