import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { counted } from '@curbmap/testing';
import { startProjection } from '../../projection.ts';
import { openStores, tallyProjection, type Tally } from './subscriptionRestart.fixture.ts';

const dir = mkdtempSync(join(tmpdir(), 'curbmap-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a projection killed mid-catch-up', () => {
  it('resumes from its checkpoint with no event lost or applied twice', async () => {
    const path = join(dir, 'curbmap.db');
    const EVENTS = 3000;
    const writer = openStores(path);
    for (let i = 0; i < EVENTS; i += 100) {
      await writer.store.append(`counter-${i % 7}`, Array.from({ length: 100 }, (_, j) => counted(i + j)), { expectedVersion: 'any' });
    }
    writer.database.close();

    // Run the projection in another process and SIGKILL it once it is part-way through.
    const fixture = fileURLToPath(new URL('./subscriptionRestart.fixture.ts', import.meta.url));
    const child = spawn(process.execPath, ['--conditions=source', '--no-warnings', fixture, 'run-child', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let killing = false;
    const killedAt = await new Promise<number>((resolve, reject) => {
      const early = (code: number | null) => reject(new Error(`child exited early (${code}): ${stderr}`));
      child.on('exit', early);
      child.stdout.on('data', (chunk: Buffer) => {
        const last = chunk.toString().trim().split('\n').pop()!;
        const position = Number(last.split(' ')[1]);
        // Once: a line still in the pipe after the kill must not drop the exit listener awaited below.
        if (!killing && position >= 1000) {
          killing = true;
          child.off('exit', early);
          child.kill('SIGKILL');
          resolve(position);
        }
      });
    });
    await new Promise((r) => child.once('exit', r));

    const { database, store, readStore, subscriptions } = openStores(path);
    const checkpoint = Number(await readStore.loadCheckpoint('restart.tally'));
    expect(checkpoint).toBeGreaterThanOrEqual(killedAt);
    expect(checkpoint).toBeLessThan(EVENTS);
    const before = await readStore.get<Tally>('tally', 'tally');
    expect(before?.applied).toBe(checkpoint); // the checkpoint and the writes committed together

    const sub = await startProjection(subscriptions, readStore, tallyProjection(0), { batchSize: 100 });
    await sub.waitFor(await store.headPosition());
    const tally = await readStore.get<Tally>('tally', 'tally');
    expect(tally?.applied).toBe(EVENTS);
    expect(tally?.sum).toBe((EVENTS * (EVENTS - 1)) / 2);
    expect(await readStore.find('seen', { organizationId: tally!.organizationId })).toHaveLength(EVENTS);
    await subscriptions.stopAll();
    database.close();
  });
});
