import type { NotificationEvent, NotificationKind } from '@curbmap/contracts';
import { NotFoundError, type Command, type Decider } from '@curbmap/eventsourcing';

/** One notification per cause (stream notification-<id>, the id derived from the cause). */
export const notificationStream = (notificationId: string) => `notification-${notificationId}`;

export type RequestNotification = Command<'RequestNotification', { notificationId: string; kind: NotificationKind; cause: string; data: Record<string, unknown> }>;
export type RecordEmailSent = Command<'RecordEmailSent', { to: string[]; messageId: string; attachments: string[] }>;
export type NotificationCommand = RequestNotification | RecordEmailSent;
export type NotificationLifecycleEvent = Extract<NotificationEvent, { type: 'notification.requested' | 'notification.email.sent' }>;
export type NotificationState = { status: 'none' } | { status: 'requested' | 'emailed'; notificationId: string; kind: NotificationKind; data: Record<string, unknown> };

export const notificationDecider: Decider<NotificationCommand, NotificationLifecycleEvent, NotificationState> = {
  initialState: () => ({ status: 'none' }),
  decide(command, state) {
    if (command.type === 'RequestNotification') return state.status === 'none' ? [{ type: 'notification.requested', data: command.data }] : [];
    if (state.status === 'none') throw new NotFoundError('notification');
    // Sent once: a redelivered notification finds its mail recorded.
    return state.status === 'emailed' ? [] : [{ type: 'notification.email.sent', data: { notificationId: state.notificationId, ...command.data } }];
  },
  evolve(state, event) {
    switch (event.type) {
      case 'notification.requested':
        return { status: 'requested', notificationId: event.data.notificationId, kind: event.data.kind, data: event.data.data };
      case 'notification.email.sent':
        return state.status === 'none' ? state : { ...state, status: 'emailed' };
      default: {
        const never: never = event;
        return never;
      }
    }
  },
};
