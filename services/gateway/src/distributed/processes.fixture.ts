// Our processes for the multi-process tests: started from their sources, stopped for sure.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../../', import.meta.url));
export const ADMIN = 'distributed-admin-token-0123456789';

export interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** A process of ours (sources run directly), and the URL its start-up line names. */
export function start(entry: string, env: Record<string, string>, announces: RegExp): Promise<Started> {
  const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', join(root, entry)], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start:\n${output}`)), 150_000);
    const watch = (chunk: Buffer) => {
      output += chunk.toString();
      const url = announces.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url, output: () => output });
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code}):\n${output}`));
    });
  });
}

/** SIGTERM, and SIGKILL after 10 s: a process that hangs on its way out never keeps the servers running. */
export async function stop(p: Started | null | undefined): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

