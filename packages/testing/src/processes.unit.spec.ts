import { describe, expect, it } from 'vitest';
import { startProcess, stopProcess } from './processes.ts';

describe('our processes for tests', () => {
  it('hears the exit of a process that writes after its start line (its stop logs), so stopping it ends', async () => {
    const p = await startProcess('packages/testing/src/talkativeChild.fixture.ts', {}, /listening at (\S+)/);
    expect(p.url).toBe('http://127.0.0.1:1');
    await stopProcess(p);
    expect([p.child.exitCode, p.child.signalCode]).toEqual([0, null]);
    expect(p.output()).toContain('stopping: consumers disconnected');
  }, 30_000);
});
