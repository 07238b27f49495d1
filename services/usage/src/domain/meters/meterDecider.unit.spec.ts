import { describe, it } from 'vitest';
import type { MeterDefinition } from '@curbmap/contracts';
import { IllegalStateError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { meterDecider, type MeterEvent } from './meterDecider.ts';

const metadata: CommandMetadata = { commandId: 'c', now: '2027-05-10T12:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const define = (data: MeterDefinition) => ({ type: 'DefineMeter' as const, data, metadata });
const bytes: MeterDefinition = { key: 'bytes', name: 'Bytes', eventType: 'tile.served', aggregation: 'sum', valueProperty: 'bytes', groupBy: [] };
const defined: MeterEvent = { type: 'usage.meter.defined', data: bytes };
const spec = deciderSpec(meterDecider);

describe('meter decider', () => {
  it('defines a meter once; the same definition again changes nothing, another one under its key is refused', () => {
    spec.given([]).when(define(bytes)).then([defined]);
    spec.given([defined]).when(define(bytes)).then([]);
    spec.given([defined]).when(define({ ...bytes, aggregation: 'max' })).thenThrows(IllegalStateError, /another definition/);
  });

  it('reserves built-in keys and wants a value property exactly where the aggregation reads one', () => {
    spec.given([]).when(define({ ...bytes, key: 'api_requests' })).thenThrows(IllegalStateError, /built in/);
    spec.given([]).when(define({ ...bytes, valueProperty: null })).thenThrows(ValidationError, /valueProperty/);
    spec.given([]).when(define({ ...bytes, aggregation: 'count' })).thenThrows(ValidationError, /takes no valueProperty/);
  });
});
