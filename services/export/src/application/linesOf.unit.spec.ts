import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { linesOf } from './curbCommands.ts';

let dir: string | null = null;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
});

it('reads a staged file line by line: lines longer than a read, multi-byte characters across reads, no final newline', () => {
  dir = mkdtempSync(join(tmpdir(), 'lines-'));
  const path = join(dir, 'zones.ndjson');
  // 300 KB of "é" (two bytes each) spans several 64 KiB reads and cuts characters in half at their edges.
  const long = `{"name":"${'é'.repeat(150_000)}"}`;
  const lines = ['{"a":1}', long, '', '{"b":"€"}', 'x'.repeat(65_535), '{"last":true}'];
  writeFileSync(path, lines.join('\n'));
  expect([...linesOf(path)]).toEqual(lines.filter((l) => l !== ''));
});
