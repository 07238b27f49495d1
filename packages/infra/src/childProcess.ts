import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** A server's data directory: the caller's, kept (created when missing), or a temporary one. */
export function serverDirectory(dir: string | undefined, prefix: string): { dir: string; kept: boolean } {
  if (dir === undefined) return { dir: mkdtempSync(join(tmpdir(), prefix)), kept: false };
  mkdirSync(dir, { recursive: true });
  return { dir, kept: true };
}

/**
 * Starts a server and resolves once `ready` (asked every `pollMs`, given the end of its output) says so. A server
 * that exits first is an error with its output; one not ready within `timeoutMs` is killed, and an error too.
 */
export async function startServerProcess(name: string, command: string, args: string[], options: { ready: (output: string) => boolean | Promise<boolean>; timeoutMs: number; pollMs?: number }): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + options.timeoutMs;
  while (!(await options.ready(output))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start within ${options.timeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50));
  }
  return child;
}
