import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { bulkPhaseEnded, countGarbage } from './garbage.ts';

/** Major collections run while fn does, as the runtime reports them. */
async function majorCollections(fn: () => void): Promise<number> {
  const seen: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  fn();
  // Entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return seen.filter((e) => (e as unknown as { detail: { kind: number } }).detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR).length;
}

describe('collecting garbage in bulk work', () => {
  it('collects once per 8 MB of work counted in the process, and at the end of a phase only past a quarter of that', async () => {
    await majorCollections(() => countGarbage(8 * 1024 * 1024)); // whatever was counted before: a clean start
    expect(await majorCollections(() => {
      for (let i = 0; i < 7; i++) countGarbage(1024 * 1024);
    })).toBe(0);
    expect(await majorCollections(() => countGarbage(1024 * 1024))).toBe(1);
    expect(await majorCollections(() => {
      countGarbage(1024 * 1024);
      bulkPhaseEnded();
    })).toBe(0);
    expect(await majorCollections(() => {
      countGarbage(1024 * 1024);
      bulkPhaseEnded();
    })).toBe(1);
  });
});
