import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clockOf } from './clock.ts';
import { loadConfig } from './config.ts';

describe('the platform clock', () => {
  it('reads the machine time unless CURBMAP_CLOCK_FILE names a file, whose instant it reads at every look', () => {
    expect(loadConfig({}).clockFile).toBeNull();
    const machine = clockOf(null)();
    expect(Math.abs(machine.getTime() - Date.now())).toBeLessThan(1000);
    const dir = mkdtempSync(join(tmpdir(), 'curbmap-clock-'));
    try {
      const file = join(dir, 'clock');
      expect(loadConfig({ CURBMAP_CLOCK_FILE: file }).clockFile).toBe(file);
      const now = clockOf(file);
      writeFileSync(file, '2029-02-28T23:00:00.000Z\n');
      expect(now().toISOString()).toBe('2029-02-28T23:00:00.000Z');
      writeFileSync(file, '2031-07-01T00:00:00Z');
      expect(now().toISOString()).toBe('2031-07-01T00:00:00.000Z');
      // A file that holds no instant is an error, never the machine's time instead.
      writeFileSync(file, 'soon');
      expect(() => now()).toThrow(/holds no instant/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
