import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends a run with the plain line `tests: N passed, N failed[, N skipped]` alone on a line, the one closing line a CI
 * reads in any language. Vitest's own summary is not among the runners CI recognises, and Schemathesis, which runs
 * before it, closes with a pytest-style `N warnings in Xs` line that reads as a run of no test.
 */
export default class ClosingLine implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const count = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') count.passed++;
        else if (state === 'failed') count.failed++;
        else count.skipped++;
      }
    }
    const skipped = count.skipped > 0 ? `, ${count.skipped} skipped` : '';
    process.stdout.write(`\ntests: ${count.passed} passed, ${count.failed} failed${skipped}\n`);
  }
}
