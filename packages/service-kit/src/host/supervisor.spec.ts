import { describe, expect, it } from 'vitest';
import { Supervisor } from './supervisor.ts';

describe('the supervisor of make up-distributed', () => {
  it('starts a process again when it dies, with its URL announced each time, and stops it', async () => {
    const started: [string, string, number][] = [];
    const died: string[] = [];
    const supervisor = new Supervisor({ started: (n, u, r) => void started.push([n, u, r]), died: (n, code, signal) => void died.push(`${n} ${code ?? signal}`), output: () => {} }, { initialDelayMs: 10 });
    const script = "console.error('listening at http://127.0.0.1:' + (4000 + Number(process.env.N ?? 0))); setInterval(() => {}, 1000);";
    const url = await supervisor.start({ name: 'svc', command: process.execPath, args: ['-e', script], env: { ...process.env, N: '1' }, ready: /listening at (\S+)/ });
    expect(url).toBe('http://127.0.0.1:4001');
    supervisor.process('svc')!.kill('SIGKILL');
    await expect.poll(() => started.length, { timeout: 10_000 }).toBe(2);
    expect(started[1]).toEqual(['svc', 'http://127.0.0.1:4001', 1]);
    expect(died).toEqual(['svc SIGKILL']);
    const last = supervisor.process('svc')!;
    await supervisor.stop();
    expect(last.signalCode).toBe('SIGTERM');
    expect(started).toHaveLength(2);
  });

  it('gives up on a process that exits before it is ready, again and again', async () => {
    const supervisor = new Supervisor({ started: () => {}, died: () => {}, output: () => {} }, { initialDelayMs: 5 });
    await expect(supervisor.start({ name: 'broken', command: process.execPath, args: ['-e', 'process.exit(3)'], env: process.env, ready: /never/ })).rejects.toThrow('broken keeps exiting before it is ready (last: 3)');
    await supervisor.stop();
  });
});
