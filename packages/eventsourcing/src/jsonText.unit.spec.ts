import { describe, expect, it } from 'vitest';
import { documentJson, rememberJsonText, topLevelArrayItems } from './jsonText.ts';

// Strings that end, open or escape what a scanner follows.
const tricky = ['plain', 'a "quoted" word', 'back\\slash', 'ends with \\', '\\"', '[{,}]', '":[', 'é ünïcode ✓', '\n\t', ''];

function prng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function value(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.3) return tricky[Math.floor(rnd() * tricky.length)];
  if (r < 0.5) return Math.round(rnd() * 1e9) / 1e4;
  if (r < 0.55) return null;
  if (r < 0.6) return rnd() < 0.5;
  if (r < 0.8) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(rnd, depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, (_, k) => [`${tricky[Math.floor(rnd() * tricky.length)]}${k}`, value(rnd, depth + 1)]));
}

describe('JSON texts of parsed parts', () => {
  it('finds the text of every item of each top-level array, whatever its strings hold', () => {
    const rnd = prng(7);
    for (let round = 0; round < 300; round++) {
      const data: Record<string, unknown> = { importId: tricky[round % tricky.length], chunk: round, zones: Array.from({ length: Math.floor(rnd() * 5) }, () => value(rnd, 0)), meta: value(rnd, 0), policies: [], [`${tricky[round % tricky.length]}x`]: [value(rnd, 0)] };
      // Our own appends and a text with whitespace alike.
      for (const text of [JSON.stringify(data), JSON.stringify(data, null, round % 3)]) {
        const arrays = topLevelArrayItems(text);
        // A key written with escapes: no answer at all (never a misread array).
        if (Object.keys(data).some((key) => JSON.stringify(key).includes('\\'))) {
          expect(arrays).toBeNull();
          continue;
        }
        for (const [key, list] of Object.entries(data)) {
          if (Array.isArray(list)) expect(arrays!.get(key)!.map((t) => JSON.parse(t))).toEqual(list);
        }
        expect([...arrays!.keys()].every((key) => Array.isArray(data[key]))).toBe(true);
      }
    }
    expect(topLevelArrayItems('[1, 2]')).toBeNull();
    // JSON.parse keeps the last of two keys of the same name, however spelt: no answer.
    expect(topLevelArrayItems('{"zones":[{"a":1}],"zones":[{"b":2}]}')).toBeNull();
    expect(topLevelArrayItems('{"zones":[{"a":1}],"zo\\u006ees":[{"b":2}]}')).toBeNull();
    expect(topLevelArrayItems('{"zones": [{"a": "unterminated}]')).toBeNull();
  });

  it('writes a document with the known texts of its parts spliced in: the same document read back', () => {
    const rnd = prng(11);
    for (let round = 0; round < 200; round++) {
      const cds = value(rnd, 1) as object;
      const part = typeof cds === 'object' && cds !== null ? cds : { v: cds };
      const doc = { id: `z${round}`, organizationId: 'org', lastUpdated: round, cds: part, ...(round % 2 ? { extra: [1, 'two'] } : {}) };
      rememberJsonText(part, JSON.stringify(part, null, round % 2));
      expect(JSON.parse(documentJson(doc))).toEqual(doc);
    }
    // Only the registered object: a copy of it is serialised as it is now.
    const zone = { curb_zone_id: 'a', name: 'as parsed' };
    rememberJsonText(zone, JSON.stringify(zone));
    const changed = { ...zone, name: 'changed' };
    expect(JSON.parse(documentJson({ id: 'z', organizationId: 'org', cds: changed }))).toEqual({ id: 'z', organizationId: 'org', cds: changed });
    expect(documentJson({ cds: zone } as never)).toBe('{"cds":{"curb_zone_id":"a","name":"as parsed"}}');
    // A text serves one write: the object changed since is written as it is now.
    zone.name = 'changed later';
    expect(documentJson({ cds: zone } as never)).toBe('{"cds":{"curb_zone_id":"a","name":"changed later"}}');
  });
});
