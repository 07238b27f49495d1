// Our processes for the multi-process tests and the simulator: started from their sources, stopped for sure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from '@curbmap/infra';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export interface Running {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** One process of ours from its sources; resolves with the URL its start-up line names. */
export function startProcess(entry: string, env: Record<string, string>, announces: RegExp): Promise<Running> {
  // Its own process group: a kill takes what it started too (the PDF renderer's Chromium), as a container's would.
  const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', join(root, entry)], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  let started = false;
  return new Promise((resolve, reject) => {
    // Not started in time: killed, so a second attempt never finds the first still coming up on its port.
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      reject(new Error(`${entry} did not start:\n${output}`));
    }, 150_000);
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code ?? signal}):\n${output}`));
    };
    const watch = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      if (started) return;
      const url = announces.exec(output)?.[1];
      if (url) {
        // Once: matched again on each later line, it would drop the exit listener of whoever waits for the stop
        // (stopChild), and a process that logs as it stops would never be heard to exit.
        started = true;
        clearTimeout(timer);
        child.off('exit', exited);
        resolve({ child, url, output: () => output });
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    child.once('exit', exited);
  });
}

/**
 * kill -9 of the process and everything in its group. Chromium puts itself in a group of its own: a browser the
 * killed process left behind (its parent now init) is killed too, or every crash would leave one running.
 */
export async function killHard(p: Running | null): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  killGroup(p, 'SIGKILL');
  await exited;
  spawnSync('pkill', ['-9', '-P', '1', '-f', 'chromium'], { stdio: 'ignore' });
}

function killGroup(p: Running, signal: NodeJS.Signals): void {
  try {
    process.kill(-p.child.pid!, signal);
  } catch {
    p.child.kill(signal);
  }
}

export async function stopProcess(p: Running | null): Promise<void> {
  if (!p) return;
  // SIGTERM to the process itself (it shuts down cleanly), SIGKILL to its whole group if it lingers.
  await stopChild(p.child, { graceMs: 10_000, kill: (signal) => (signal === 'SIGTERM' ? void p.child.kill(signal) : killGroup(p, signal)) });
  killGroup(p, 'SIGKILL'); // what it started and left behind
}
