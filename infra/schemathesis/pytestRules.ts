/**
 * Schemathesis frames its headings and its closing line as pytest does (`=== 3 warnings in 30.76s ===`), and a CI that
 * reads pytest's closing line takes that for a pytest run of no test, whatever vitest counts after it. The rules and
 * the pytest-like ` in 30.76s` go; the words stay.
 */
export function withoutPytestRules(output: string): string {
  return output.replace(/^[=_-]{3,} ?(.*?) ?[=_-]{3,}$/gm, (_, words: string) => `schemathesis: ${words.replace(/ in ([\d.]+s)$/, ' ($1)')}`);
}
