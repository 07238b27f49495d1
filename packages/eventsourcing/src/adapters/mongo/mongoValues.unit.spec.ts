import { describe, expect, it } from 'vitest';
import { decodeValue, encodeDocument } from './mongoValues.ts';

const roundTrip = (doc: Record<string, unknown>) => decodeValue(encodeDocument({ id: 'd', organizationId: 'o', ...doc }));

describe('read-model values on MongoDB-wire servers', () => {
  it('keeps nested arrays and awkward keys as JSON text in those places only, and gives back what JSON keeps', () => {
    const doc = {
      line: { type: 'LineString', coordinates: [[1, 2], [3, 4]] },
      flat: [1, 'two', { three: 3 }],
      versions: { 'billing.subscription-1': 2, $odd: 1, 'nul\0key': 3 },
      looksEncoded: { __json: 'not mine' },
      empty: { list: [], map: {} },
      big: 2 ** 53 - 1,
      when: new Date('2027-01-01T00:00:00.000Z'),
      gone: undefined,
    };
    const stored = encodeDocument({ id: 'd', organizationId: 'o', ...doc });
    expect(stored['line']).toEqual({ type: 'LineString', coordinates: { __json: '[[1,2],[3,4]]' } });
    expect(stored['flat']).toEqual([1, 'two', { three: 3 }]);
    expect(typeof (stored['versions'] as { __json?: unknown }).__json).toBe('string');
    expect(roundTrip(doc)).toEqual(JSON.parse(JSON.stringify({ id: 'd', organizationId: 'o', ...doc })));
  });

  it('refuses a top-level field the adapter keeps for itself or a server refuses', () => {
    for (const key of ['_id', '_s', '_until', 'a.b', '$x', '__json']) expect(() => encodeDocument({ id: 'd', organizationId: 'o', [key]: 1 }), key).toThrow('cannot have a field');
  });
});
