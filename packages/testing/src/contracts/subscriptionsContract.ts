import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEAD_LETTERS, startProjection, type Checkpoint, type DeadLetter, type Document, type EventStore, type ReadStore, type StoredEvent, type Subscriptions } from '@curbmap/eventsourcing';
import { counted, noted } from '../testEvents.ts';

export interface SubscriptionsFixture {
  store: EventStore;
  readStore: ReadStore;
  subscriptions: Subscriptions;
  /**
   * Does a stored checkpoint stand at the log's position? A global-log adapter stores the position itself
   * (the default check); Kafka stores offsets per partition, which the fixture compares with the topics' ends.
   */
  /** Whether the subscription's stored checkpoint is at position, where it is not a position (Kafka: a row per partition). */
  checkpointAt?(name: string, position: Checkpoint): Promise<boolean>;
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

    const expectCheckpointAt = async (name: string, position: Checkpoint) => {
      if (f.checkpointAt) expect(await f.checkpointAt(name, position), `checkpoint of ${name} at ${position}`).toBe(true);
      else expect(await f.readStore.loadCheckpoint(name)).toBe(position);
    };

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

    it('hands an envelope-only handler its events without data, caught up and live alike', async () => {
      await appendCounts('a', 0, 3);
      const envelopes: StoredEvent[] = [];
      const sub = f.subscriptions.subscribe(name(), { categories: [category] }, async (batch) => void envelopes.push(...batch), { envelopeOnly: true, batchSize: 2 });
      await sub.caughtUp;
      const { position } = await appendCounts('b', 3, 2);
      await sub.waitFor(position);
      expect(envelopes.map((e) => e.data)).toEqual([undefined, undefined, undefined, undefined, undefined]);
      expect(envelopes.map((e) => e.streamId)).toEqual([...Array(3).fill(`${category}-a`), ...Array(2).fill(`${category}-b`)]);
      expect(envelopes.every((e) => e.id && e.type === 'test.counted' && e.organizationId && e.globalPosition)).toBe(true);
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

    it('parks an event that keeps failing, with its error, and goes on with the rest; an operator retries it later', async () => {
      await appendCounts('a', 0, 5);
      let broken = true;
      const got: number[] = [];
      const subName = name();
      const sub = f.subscriptions.subscribe(subName, { categories: [category] }, async (batch) => {
        for (const e of batch) if ((e.data as { count: number }).count === 2 && broken) throw new Error('cannot apply count 2');
        got.push(...batch.map((e) => (e.data as { count: number }).count));
      }, { batchSize: 10, retry: { maxAttempts: 3, baseDelayMs: 5 } });
      await sub.caughtUp;
      expect(got).toEqual([0, 1, 3, 4]);
      const parked = await f.readStore.find<DeadLetter & Document>(DEAD_LETTERS, { subscription: subName });
      expect(parked).toHaveLength(1);
      expect(parked[0]).toMatchObject({ subscription: subName, eventType: 'test.counted', error: 'cannot apply count 2', attempts: 3, status: 'parked' });
      const head = await f.store.headPosition();
      await expectCheckpointAt(subName, head);
      expect(f.subscriptions.list().map((s) => s.name)).toContain(subName);

      await expect(sub.retry(parked[0]!)).rejects.toThrow('cannot apply count 2');
      expect(await f.readStore.get(DEAD_LETTERS, parked[0]!.id)).toMatchObject({ status: 'parked', attempts: 4 });
      broken = false;
      await sub.retry(parked[0]!);
      expect(got).toEqual([0, 1, 3, 4, 2]);
      expect(await f.readStore.get(DEAD_LETTERS, parked[0]!.id)).toMatchObject({ status: 'resolved', resolvedAt: expect.any(String) });
      await expectCheckpointAt(subName, head);
    });

    it('starts a new projection version from empty collections', async () => {
      const collection = `shape_${category}`;
      await f.readStore.transaction((tx) => tx.put(collection, { id: 'left-by-v1', organizationId: 'o', oldShape: true }));
      const { position } = await appendCounts('a', 0, 1);
      const projection = {
        name: `shape.v2.${category}`,
        filter: { categories: [category] },
        collections: [collection],
        async apply(event: StoredEvent, tx: Parameters<Parameters<ReadStore['transaction']>[0]>[0]) {
          await tx.put(collection, { id: event.id, organizationId: event.organizationId, newShape: true });
        },
      };
      const sub = await startProjection(f.subscriptions, f.readStore, projection);
      await sub.waitFor(position);
      expect((await f.readStore.find(collection, { organizationId: 'o' }))).toEqual([]);
      await sub.stop();
      // A restart keeps what the same version built.
      const again = await startProjection(f.subscriptions, f.readStore, projection);
      await again.caughtUp;
      expect(await f.readStore.find(collection, {})).toHaveLength(1);
    });

    it('waits for a write only where the subscription takes it', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const sub = f.subscriptions.subscribe(name(), { categories: [category] }, () => gate);
      const mine = await appendCounts('a', 0, 1);
      const other = await f.store.append(`other${category}-x`, [counted(1)], { expectedVersion: 'any' });
      await sub.waitForWrite({ streamId: `other${category}-x`, version: other.nextVersion, types: ['test.counted'], position: other.position }, 200);
      await expect(sub.waitForWrite({ streamId: `${category}-a`, version: mine.nextVersion, types: ['test.counted'], position: mine.position }, 100)).rejects.toThrow('did not reach');
      release();
      await sub.waitForWrite({ streamId: `${category}-a`, version: mine.nextVersion, types: ['test.counted'], position: mine.position });
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
      const sub = await startProjection(f.subscriptions, f.readStore, projection, { batchSize: 10 });
      await sub.waitFor(position);
      const tally = await f.readStore.get<Tally>(collection, 'tally');
      expect(tally?.total).toBe(1 + 2 + 3 + 4 + 5);
      expect(new Set(tally?.seen).size).toBe(5);
      expect(tally?.seen).toHaveLength(5);
      await expectCheckpointAt(projection.name, position);
    });
  });
}
