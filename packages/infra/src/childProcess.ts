import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/**
 * Stops a child process: `signal` (SIGTERM: let it shut down cleanly), then SIGKILL if it has not exited after
 * `graceMs`. `kill` sends a signal (default: to the child; a caller whose child leads a process group sends it to
 * the group). Resolves once it has exited.
 */
export async function stopChild(child: ChildProcess, options: { graceMs: number; signal?: NodeJS.Signals; kill?: (signal: NodeJS.Signals) => void }): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const kill = options.kill ?? ((signal: NodeJS.Signals) => void child.kill(signal));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  kill(options.signal ?? 'SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), options.graceMs);
  await exited;
  clearTimeout(timer);
}

/** Does something accept connections on this loopback port now? */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
