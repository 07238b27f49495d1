import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IdFilter } from './idFilter.ts';

describe('IdFilter', () => {
  it('never says no to an id it holds, and (as good as) never yes to one it does not, as it grows', () => {
    const filter = new IdFilter();
    const held = Array.from({ length: 200_000 }, () => `${randomUUID()}:${randomUUID()}`);
    for (const id of held) filter.add(id);
    // Added twice: still one entry, still there.
    filter.add(held[0]!);
    expect(held.every((id) => filter.has(id))).toBe(true);
    // 53-bit hashes: a false "yes" among 200,000 others has a chance of about 1 in 200,000.
    const others = Array.from({ length: 200_000 }, () => `${randomUUID()}:${randomUUID()}`);
    expect(others.filter((id) => filter.has(id)).length).toBe(0);
    expect(new IdFilter().has('anything')).toBe(false);
  });
});
