import { EventRegistry, type NewEvent } from '@curbmap/contracts';
import { randomUUID } from 'node:crypto';

/**
 * A tiny event vocabulary for the adapter contract suites. `test.counted` v1 had `n`; v2 renamed it `count`.
 * testRegistry(1) is the code as it was when v1 events were written.
 */
export function testRegistry(countedVersion: 1 | 2 = 2): EventRegistry {
  const integer = { type: 'integer' };
  const counted =
    countedVersion === 1
      ? { type: 'test.counted', schemaVersion: 1, schema: { type: 'object', additionalProperties: false, required: ['n'], properties: { n: integer } } }
      : {
          type: 'test.counted',
          schemaVersion: 2,
          schema: { type: 'object', additionalProperties: false, required: ['count'], properties: { count: integer } },
          upcasters: { 1: (data: unknown) => ({ count: (data as { n: number }).n }) },
        };
  return new EventRegistry().register(
    counted,
    {
      type: 'test.noted',
      schemaVersion: 1,
      schema: { type: 'object', additionalProperties: false, required: ['note'], properties: { note: { type: 'string' } } },
    },
  );
}

export const ORG = '00000000-0000-4000-8000-000000000001';

export function counted(count: number, extra: Partial<NewEvent> = {}): NewEvent {
  return { id: randomUUID(), type: 'test.counted', data: { count }, occurredAt: new Date(0).toISOString(), organizationId: ORG, ...extra };
}

export function noted(note: string): NewEvent {
  return { id: randomUUID(), type: 'test.noted', data: { note }, occurredAt: new Date(0).toISOString(), organizationId: ORG };
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}
