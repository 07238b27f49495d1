import type { MeterDefinition, UsageEvent } from '@curbmap/contracts';
import { IllegalStateError, ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';
import { builtInMeterKeys, builtInMeters } from './builtInMeters.ts';

/** An organization's own meters (stream meters-<orgId>); the built-in ones exist for everyone. */
export const metersStream = (organizationId: string) => `meters-${organizationId}`;

export type MeterEvent = Extract<UsageEvent, { type: 'usage.meter.defined' }>;
export type DefineMeter = Command<'DefineMeter', MeterDefinition>;
export type MetersState = { meters: Record<string, MeterDefinition> };

export const meterDecider: Decider<DefineMeter, MeterEvent, MetersState> = {
  initialState: () => ({ meters: {} }),
  decide(command, state) {
    const meter = command.data;
    if (builtInMeterKeys.has(meter.key)) throw new IllegalStateError(`meter ${meter.key} is built in; choose another key`);
    if (builtInMeters.some((m) => m.eventType === meter.eventType)) throw new ValidationError(`events of type ${meter.eventType} are the platform's own; choose another event type`);
    const existing = state.meters[meter.key];
    // Defining the same meter again is a no-op; another definition under the same key would change what
    // rollups already counted, so it is refused.
    if (existing) {
      if (JSON.stringify(existing) === JSON.stringify(meter)) return [];
      throw new IllegalStateError(`meter ${meter.key} already exists with another definition`);
    }
    if (meter.aggregation !== 'count' && !meter.valueProperty) throw new ValidationError(`a ${meter.aggregation} meter needs valueProperty: the property of data it measures`);
    if (meter.aggregation === 'count' && meter.valueProperty) throw new ValidationError('a count meter counts events; it takes no valueProperty');
    return [{ type: 'usage.meter.defined', data: { ...meter, groupBy: [...meter.groupBy] } }];
  },
  evolve(state, event) {
    return { meters: { ...state.meters, [event.data.key]: event.data } };
  },
};
