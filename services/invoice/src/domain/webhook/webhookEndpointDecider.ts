import type { NotificationEvent, NotificationKind } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, type Command, type Decider } from '@curbmap/eventsourcing';

/** A webhook endpoint of an organization (stream webhookendpoint-<id>). */
export const webhookEndpointStream = (endpointId: string) => `webhookendpoint-${endpointId}`;

/** How long the previous secret keeps signing after a rotation, so a receiver can switch without losing a message. */
export const SECRET_OVERLAP_MS = 24 * 3_600_000;

export type CreateEndpoint = Command<'CreateEndpoint', { endpointId: string; url: string; events: NotificationKind[]; description: string | null; secret: string }>;
export type RotateSecret = Command<'RotateSecret', { secret: string }>;
export type DisableEndpoint = Command<'DisableEndpoint', { reason: 'gone' | 'failing'; detail: string }>;
export type EnableEndpoint = Command<'EnableEndpoint', Record<string, never>>;
export type DeleteEndpoint = Command<'DeleteEndpoint', Record<string, never>>;
export type WebhookEndpointCommand = CreateEndpoint | RotateSecret | DisableEndpoint | EnableEndpoint | DeleteEndpoint;
export type WebhookEndpointEvent = Extract<NotificationEvent, { type: `webhook.endpoint.${string}` }>;

export type WebhookEndpointState =
  | { status: 'none' }
  | { status: 'enabled' | 'disabled' | 'deleted'; endpointId: string; url: string; events: NotificationKind[]; secret: string; previous: { secret: string; expiresAt: string } | null };

/** The secrets a message sent at `at` is signed with: the current one, and the previous one during the overlap. */
export function signingSecrets(state: WebhookEndpointState, at: string): string[] {
  if (state.status === 'none') return [];
  return state.previous && at < state.previous.expiresAt ? [state.secret, state.previous.secret] : [state.secret];
}

export const webhookEndpointDecider: Decider<WebhookEndpointCommand, WebhookEndpointEvent, WebhookEndpointState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    if (command.type === 'CreateEndpoint') {
      // A retried creation (same Idempotency-Key, same id) finds it made.
      if (state.status !== 'none') return [];
      return [{ type: 'webhook.endpoint.created', data: command.data }];
    }
    if (state.status === 'none' || state.status === 'deleted') throw new NotFoundError('webhook endpoint');
    const endpointId = state.endpointId;
    switch (command.type) {
      case 'RotateSecret': {
        if (command.data.secret === state.secret) return [];
        const previousExpiresAt = new Date(Date.parse(command.metadata.now) + SECRET_OVERLAP_MS).toISOString();
        return [{ type: 'webhook.endpoint.secret_rotated', data: { endpointId, secret: command.data.secret, previousExpiresAt } }];
      }
      case 'DisableEndpoint':
        return state.status === 'disabled' ? [] : [{ type: 'webhook.endpoint.disabled', data: { endpointId, ...command.data } }];
      case 'EnableEndpoint':
        return state.status === 'enabled' ? [] : [{ type: 'webhook.endpoint.enabled', data: { endpointId } }];
      case 'DeleteEndpoint':
        return [{ type: 'webhook.endpoint.deleted', data: { endpointId } }];
      default: {
        const never: never = command;
        throw new IllegalStateError(`unknown command ${(never as Command).type}`);
      }
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'webhook.endpoint.created':
        return { status: 'enabled', endpointId: event.data.endpointId, url: event.data.url, events: event.data.events, secret: event.data.secret, previous: null };
      case 'webhook.endpoint.secret_rotated':
        return state.status === 'none' ? state : { ...state, secret: event.data.secret, previous: { secret: state.secret, expiresAt: event.data.previousExpiresAt } };
      case 'webhook.endpoint.disabled':
        return state.status === 'none' ? state : { ...state, status: 'disabled' };
      case 'webhook.endpoint.enabled':
        return state.status === 'none' ? state : { ...state, status: 'enabled' };
      case 'webhook.endpoint.deleted':
        return state.status === 'none' ? state : { ...state, status: 'deleted' };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
