import { describe, expect, it } from 'vitest';
import { simulate } from './simulation.ts';

// A short, fixed set of seeds in `make test`: whole histories of the business against the real platform (its
// processes started from sources), with kill -9 along the way, then every invariant. `make soak` runs long.
const SEEDS = [20261205, 7, 1312];

describe('the books balance (simulated histories, embedded)', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: several organizations over three years with faults, every invariant holds`, async () => {
      const report = await simulate({ seed, mode: 'embedded', organizations: 4, steps: 120, years: 3, crashRate: 0.02 });
      expect(report.violations, JSON.stringify(report, null, 1)).toEqual([]);
      expect(report.requests).toBeGreaterThan(100);
    }, 600_000);
  }
});
