import { describe, expect, it } from 'vitest';
import { simulate, type SimulationReport } from './simulation.ts';

// A short, fixed set of seeds in `make test`: whole histories of the business against the real platform (its
// processes started from sources), with kill -9 along the way, then every invariant. `make soak` runs long.
const SEEDS = [20261205, 7, 1312];

describe('the books balance (simulated histories, embedded)', () => {
  const reports: SimulationReport[] = [];
  for (const seed of SEEDS) {
    it(`seed ${seed}: several organizations over three years with faults, every invariant holds`, async () => {
      const report = await simulate({ seed, mode: 'embedded', organizations: 4, steps: 120, years: 3, crashRate: 0.02 });
      reports.push(report);
      expect(report.violations, JSON.stringify(report, null, 1)).toEqual([]);
      expect(report.requests).toBeGreaterThan(100);
    }, 600_000);
  }

  it('the seeds exercise what the invariants are about: closes with overage, late usage, changes, faults', () => {
    const covered = (key: string) => reports.reduce((n, r) => n + (r.covered[key] ?? 0), 0);
    const summary = JSON.stringify(reports.map((r) => ({ seed: r.seed, faults: r.faults, covered: r.covered })));
    for (const key of ['invoices.overage', 'invoices.change', 'invoices.renewal', 'yearsClosed', 'lateUsage']) expect(covered(key), `${key}: ${summary}`).toBeGreaterThan(0);
    expect(reports.reduce((n, r) => n + r.faults, 0), summary).toBeGreaterThan(0);
  });

  it('seed 4242, by card: Stripe invoices, charges, renews and refunds on the simulated clock; its webhooks in any order; every invariant holds', async () => {
    const report = await simulate({ seed: 4242, mode: 'embedded', collection: 'card', organizations: 3, steps: 90, years: 3, crashRate: 0.02 });
    expect(report.violations, JSON.stringify(report, null, 1)).toEqual([]);
    for (const key of ['stripe.subscription_create', 'stripe.subscription_update', 'stripe.subscription_cycle', 'stripe.refunded', 'stripe.declined']) expect(report.covered[key] ?? 0, `${key}: ${JSON.stringify(report.covered)}`).toBeGreaterThan(0);
  }, 600_000);
});
