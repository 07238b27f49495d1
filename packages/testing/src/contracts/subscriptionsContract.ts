import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startProjection, type Document, type EventStore, type ReadStore, type StoredEvent, type Subscriptions } from '@curbmap/eventsourcing';
import { counted, noted } from '../testEvents.ts';

export interface SubscriptionsFixture {
  store: EventStore;
  readStore: ReadStore;
  subscriptions: Subscriptions;
  close(): Promise<void>;
}

interface Tally extends Document {
  total: number;
  seen: string[];
}

/** The behaviour every Subscriptions adapter must show (stores built with testRegistry()). */
export function subscriptionsContract(adapter: string, create: () => Promise<SubscriptionsFixture>): void {
  describe(`Subscriptions contract: ${adapter}`, () => {
    let f: SubscriptionsFixture;
    let category: string;
    const name = () => `sub-${randomBytes(4).toString('hex')}`;
    beforeEach(async () => {
      f = await create();
      category = `t${randomBytes(4).toString('hex')}`;
    });
    afterEach(async () => {
      await f.subscriptions.stopAll();
      await f.close();
    });

    const appendCounts = async (stream: string, from: number, n: number) => {
      const events = Array.from({ length: n }, (_, i) => counted(from + i));
      return f.store.append(`${category}-${stream}`, events, { expectedVersion: 'any' });
    };

    it('catches up from the start, then follows new events live, in order', async () => {
      await appendCounts('a', 0, 5);
      const got: number[] = [];
      const sub = f.subscriptions.subscribe(name(), { categories: [category] }, async (batch) => {
        for (const e of batch) got.push((e.data as { count: number }).count);
      }, { batchSize: 2 });
      await sub.caughtUp;
      expect(got).toEqual([0, 1, 2, 3, 4]);
      const { position } = await appendCounts('b', 5, 3);
      await sub.waitFor(position);
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    });

    it('resumes from its stored checkpoint after a stop', async () => {
      const subName = name();
      await appendCounts('a', 0, 3);
      const first: number[] = [];
      const sub = f.subscriptions.subscribe(subName, { categories: [category] }, async (batch) => void first.push(...batch.map((e) => (e.data as { count: number }).count)));
      await sub.caughtUp;
      await sub.stop();
      const { position } = await appendCounts('a', 3, 2);
      const second: number[] = [];
      const again = f.subscriptions.subscribe(subName, { categories: [category] }, async (batch) => void second.push(...batch.map((e) => (e.data as { count: number }).count)));
      await again.waitFor(position);
      expect(first).toEqual([0, 1, 2]);
      expect(second).toEqual([3, 4]);
    });

    it('delivers only what the filter names, and reaches positions the filter skips', async () => {
      const types: string[] = [];
      const sub = f.subscriptions.subscribe(name(), { categories: [category], types: ['test.noted'] }, async (batch) => void types.push(...batch.map((e) => e.type)));
      await sub.caughtUp;
      await f.store.append(`${category}-x`, [noted('hello'), counted(1)], { expectedVersion: 'any' });
      const { position } = await f.store.append(`elsewhere-${category}`, [noted('not mine')], { expectedVersion: 'any' });
      await sub.waitFor(position);
      expect(types).toEqual(['test.noted']);
    });

    it('retries a failing handler without losing or skipping an event', async () => {
      await appendCounts('a', 0, 4);
      let failures = 0;
      const got: number[] = [];
      const sub = f.subscriptions.subscribe(name(), { categories: [category] }, async (batch) => {
        if (batch.some((e) => (e.data as { count: number }).count === 2) && failures < 2) {
          failures += 1;
          throw new Error('downstream unavailable');
        }
        got.push(...batch.map((e) => (e.data as { count: number }).count));
      }, { batchSize: 2 });
      await sub.caughtUp;
      expect(failures).toBe(2);
      expect(got).toEqual([0, 1, 2, 3]);
    });

    it('backs off after a failure even while new events keep arriving', async () => {
      let calls = 0;
      const sub = f.subscriptions.subscribe(name(), { categories: [category] }, async () => {
        calls += 1;
        throw new Error('always failing');
      });
      for (let i = 0; i < 20; i++) {
        await appendCounts('a', i, 1);
        await new Promise((r) => setTimeout(r, 10));
      }
      // Backoff doubles from 200 ms: within ~200 ms of appends, only a few attempts happen.
      expect(calls).toBeGreaterThanOrEqual(1);
      expect(calls).toBeLessThanOrEqual(3);
      await sub.stop();
    });

    it('commits a projection and its checkpoint together: a failed batch leaves no trace and is applied once on retry', async () => {
      const collection = `tally_${category}`;
      let crashOnce = true;
      const projection = {
        name: name(),
        filter: { categories: [category] },
        collections: [collection],
        async apply(event: StoredEvent, tx: Parameters<Parameters<ReadStore['transaction']>[0]>[0]) {
          const doc = (await tx.get<Tally>(collection, 'tally')) ?? { id: 'tally', organizationId: event.organizationId, total: 0, seen: [] };
          doc.total += (event.data as { count: number }).count;
          doc.seen.push(event.id);
          await tx.put(collection, doc);
          if ((event.data as { count: number }).count === 3 && crashOnce) {
            crashOnce = false;
            throw new Error('crash mid-batch');
          }
        },
      };
      const { position } = await appendCounts('a', 1, 5);
      const sub = await startProjection(f.subscriptions, f.readStore, projection, 10);
      await sub.waitFor(position);
      const tally = await f.readStore.get<Tally>(collection, 'tally');
      expect(tally?.total).toBe(1 + 2 + 3 + 4 + 5);
      expect(new Set(tally?.seen).size).toBe(5);
      expect(tally?.seen).toHaveLength(5);
      expect(await f.readStore.loadCheckpoint(projection.name)).toBe(position);
    });
  });
}
