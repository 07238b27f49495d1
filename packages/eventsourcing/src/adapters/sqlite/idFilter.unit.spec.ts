import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { IdFilter } from './idFilter.ts';

describe('IdFilter', () => {
  it('never says no to an id it holds, and rarely yes to one it does not', () => {
    const filter = new IdFilter(1 << 20);
    const held = Array.from({ length: 50_000 }, () => `${randomUUID()}:${randomUUID()}`);
    for (const id of held) filter.add(id);
    expect(held.every((id) => filter.has(id))).toBe(true);
    // 50,000 ids in 2^20 bits with 6 probes: about 1 false "yes" in 2,000 expected; allow ten times that.
    const others = Array.from({ length: 50_000 }, () => `${randomUUID()}:${randomUUID()}`);
    expect(others.filter((id) => filter.has(id)).length).toBeLessThan(250);
    expect(new IdFilter(1 << 10).has('anything')).toBe(false);
  });
});
