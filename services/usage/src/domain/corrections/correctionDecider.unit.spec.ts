import { describe, it } from 'vitest';
import type { UsageItem } from '@curbmap/contracts';
import { IllegalStateError, NotFoundError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { correctionDecider, type CorrectionCommand, type CorrectionEvent } from './correctionDecider.ts';

const metadata: CommandMetadata = { commandId: 'c', now: '2027-05-10T12:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const item: UsageItem = { id: 'e1', type: 'tile.served', projectId: '0b7a4f0e-2f1d-4c55-8d0e-5b9a1e3c6d02', time: '2027-05-10T11:00:00.000Z', data: { bytes: 40 } };
const base = { eventId: 'e1', timeZone: 'UTC' };
const voidIt = (original: UsageItem | null = item): CorrectionCommand => ({ type: 'VoidUsageEvent', data: { ...base, original }, metadata });
const amend = (bytes: number, original: UsageItem | null = item): CorrectionCommand => ({ type: 'AmendUsageEvent', data: { ...base, original, data: { bytes } }, metadata });
const amended: CorrectionEvent = { type: 'usage.event.corrected', data: { ...base, from: item, to: { ...item, data: { bytes: 45 } } } };
const spec = deciderSpec(correctionDecider);

describe('usage correction decider', () => {
  it('amends from what the event counts now, and voids it once', () => {
    spec.given([]).when(amend(45)).then([amended]);
    spec.given([amended]).when(amend(50, null)).then([{ type: 'usage.event.corrected', data: { ...base, from: { ...item, data: { bytes: 45 } }, to: { ...item, data: { bytes: 50 } } } }]);
    spec.given([amended]).when(amend(45)).then([]);
    const voided: CorrectionEvent = { type: 'usage.event.corrected', data: { ...base, from: { ...item, data: { bytes: 45 } }, to: null } };
    spec.given([amended]).when(voidIt()).then([voided]);
    spec.given([amended, voided]).when(voidIt()).then([]);
    spec.given([amended, voided]).when(amend(1)).thenThrows(IllegalStateError, /voided/);
  });

  it('cannot correct an event that was never recorded', () => {
    spec.given([]).when(voidIt(null)).thenThrows(NotFoundError, /usage event/);
  });
});
