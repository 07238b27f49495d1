import { describe, expect, it } from 'vitest';
import { EventRegistry } from '../eventRegistry.ts';
import { API_REQUEST_ITEM_TYPE, usageContracts } from './usage.ts';

const registry = new EventRegistry().register(...usageContracts);
const item = (type: string, data: Record<string, unknown>) => ({ id: `i-${type}`, type, projectId: null, time: '2026-05-10T12:00:00.000Z', data });

describe('usage events written by earlier versions', () => {
  it('read an API request item recorded before tallies as one request; other items and tallies are left as they were', () => {
    const v1 = { items: [item(API_REQUEST_ITEM_TYPE, { keyId: 'k', route: '/v1/projects', status: 200 }), item(API_REQUEST_ITEM_TYPE, { keyId: 'k', requests: 7 }), item('hit', {})], timeZone: 'UTC' };
    const upcast = registry.upcast({ type: 'usage.events.recorded', schemaVersion: 1, data: v1 });
    expect(upcast.schemaVersion).toBe(2);
    expect((upcast.data as typeof v1).items.map((i) => i.data)).toEqual([{ keyId: 'k', route: '/v1/projects', status: 200, requests: 1 }, { keyId: 'k', requests: 7 }, {}]);
    expect(() => registry.validate({ type: 'usage.events.recorded', data: upcast.data })).not.toThrow();
  });

  it('read a correction of an API request item the same way, before and after', () => {
    const v1 = { eventId: 'x', from: item(API_REQUEST_ITEM_TYPE, { keyId: 'k' }), to: null, timeZone: 'UTC' };
    expect(registry.upcast({ type: 'usage.event.corrected', schemaVersion: 1, data: v1 }).data).toEqual({ ...v1, from: item(API_REQUEST_ITEM_TYPE, { keyId: 'k', requests: 1 }) });
  });
});
