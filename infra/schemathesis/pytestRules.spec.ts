import { describe, expect, it } from 'vitest';
import { withoutPytestRules } from './pytestRules.ts';

describe('Schemathesis output in make test', () => {
  it('loses the pytest-style rules and timing, so CI does not read it as a pytest run of no test', () => {
    const output = ['===== SUMMARY =====', 'Test cases:', '  5808 generated, 5808 passed, 104 skipped', '=== 3 warnings in 19.28s ===', ''].join('\n');
    expect(withoutPytestRules(output)).toBe(['schemathesis: SUMMARY', 'Test cases:', '  5808 generated, 5808 passed, 104 skipped', 'schemathesis: 3 warnings (19.28s)', ''].join('\n'));
  });
});
