import type { UsageEvent, UsageItem } from '@curbmap/contracts';
import { deterministicUuid, IllegalStateError, NotFoundError, type Command, type Decider } from '@curbmap/eventsourcing';

/** The corrections of one usage event (stream usagefix-<uuid of org and client id>): one at a time, in order. */
export const correctionStream = (organizationId: string, eventId: string) => `usagefix-${deterministicUuid(`${organizationId}\n${eventId}`)}`;

export type CorrectionEvent = Extract<UsageEvent, { type: 'usage.event.corrected' }>;
/** `original`: the item as recorded, looked up by the application for the first correction. */
type Correct<T extends string, D> = Command<T, D & { eventId: string; original: UsageItem | null; timeZone: string }>;
export type VoidUsageEvent = Correct<'VoidUsageEvent', Record<never, never>>;
export type AmendUsageEvent = Correct<'AmendUsageEvent', { data: Record<string, unknown> }>;
export type CorrectionCommand = VoidUsageEvent | AmendUsageEvent;
export type CorrectionState = { status: 'untouched' } | { status: 'counted'; item: UsageItem } | { status: 'voided'; item: UsageItem };

export const correctionDecider: Decider<CorrectionCommand, CorrectionEvent, CorrectionState> = {
  initialState: () => ({ status: 'untouched' }),
  decide(command, state) {
    const current = state.status === 'untouched' ? command.data.original : state.item;
    if (!current) throw new NotFoundError('usage event');
    if (state.status === 'voided') {
      if (command.type === 'VoidUsageEvent') return [];
      throw new IllegalStateError('this usage event was voided; send a new event instead');
    }
    const { eventId, timeZone } = command.data;
    if (command.type === 'VoidUsageEvent') return [{ type: 'usage.event.corrected', data: { eventId, from: current, to: null, timeZone } }];
    if (JSON.stringify(current.data) === JSON.stringify(command.data.data)) return [];
    return [{ type: 'usage.event.corrected', data: { eventId, from: current, to: { ...current, data: command.data.data }, timeZone } }];
  },
  evolve(_state, event) {
    return event.data.to ? { status: 'counted', item: event.data.to } : { status: 'voided', item: event.data.from };
  },
};
