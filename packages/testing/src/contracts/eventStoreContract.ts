import { randomUUID } from 'node:crypto';
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { EventValidationError, type EventRegistry } from '@curbmap/contracts';
import { ClaimConflictError, ConcurrencyError, type EventStore } from '@curbmap/eventsourcing';
import { collect, counted, noted, ORG, testRegistry } from '../testEvents.ts';

export interface EventStoreFixture {
  /** Built with testRegistry(). */
  store: EventStore;
  /** Another client of the same store, built with the given registry (older code, say). */
  withRegistry(registry: EventRegistry): Promise<EventStore>;
  close(): Promise<void>;
}

/** The behaviour every EventStore adapter must show; the store must be built with testRegistry(). */
export function eventStoreContract(adapter: string, create: () => Promise<EventStoreFixture>): void {
  describe(`EventStore contract: ${adapter}`, () => {
    let fixture: EventStoreFixture;
    let store: EventStore;
    let stream: string;
    beforeEach(async () => {
      fixture = await create();
      store = fixture.store;
      stream = `thing-${randomUUID()}`;
    });
    afterEach(() => fixture.close());

    it('appends to a new stream and reads it back in order with the envelope', async () => {
      const events = [counted(1, { projectId: '00000000-0000-4000-8000-0000000000aa', correlationId: 'corr-1' }), counted(2)];
      const result = await store.append(stream, events, { expectedVersion: 'no_stream' });
      expect(result.nextVersion).toBe(1);
      const read = await collect(store.readStream(stream));
      expect(read.map((e) => [e.id, e.streamVersion, e.data])).toEqual([
        [events[0]!.id, 0, { count: 1 }],
        [events[1]!.id, 1, { count: 2 }],
      ]);
      expect(read[0]).toMatchObject({ type: 'test.counted', schemaVersion: 2, streamId: stream, organizationId: ORG, projectId: '00000000-0000-4000-8000-0000000000aa', correlationId: 'corr-1', causationId: 'corr-1' });
      expect(read[1]!.globalPosition).toBe(result.position);
      expect(store.compare(read[0]!.globalPosition, read[1]!.globalPosition)).toBeLessThan(0);
      // Each event read back at its position; a position nothing was appended at reads nothing.
      for (const e of read) expect(await store.readAt(e.globalPosition)).toEqual(e);
      expect(await store.readAt(read[0]!.globalPosition.replace(/\d+$/, (n) => String(Number(n) + 1000)))).toBeNull();
    });

    it('appends events produced on demand, one transaction for all; one that fails its schema writes none of them', async () => {
      let produced = 0;
      function* chunks(n: number, badAt = -1) {
        for (let i = 0; i < n; i++) {
          produced += 1;
          yield i === badAt ? { ...counted(i), data: { count: 'not a number' } } : counted(i);
        }
      }
      const claim = `claim-${randomUUID()}`;
      const result = await store.append(stream, chunks(250), { expectedVersion: 'no_stream', claims: [claim] });
      expect(result.nextVersion).toBe(249);
      expect(produced).toBe(250);
      // The claim names the append's last event, after every chunk of it.
      expect(await store.claimed([claim])).toEqual(new Map([[claim, result.position]]));
      expect((await store.readAt(result.position))?.streamVersion).toBe(249);
      const other = `thing-${randomUUID()}`;
      await expect(store.append(other, chunks(10, 7), { expectedVersion: 'no_stream' })).rejects.toThrow(/does not match its schema/);
      expect(await collect(store.readStream(other))).toEqual([]);
      expect((await collect(store.readStream(stream))).map((e) => (e.data as { count: number }).count)).toEqual(Array.from({ length: 250 }, (_, i) => i));
    });

    it('keeps concurrent appends independent: the one that fails (stale version, claim taken, invalid event) writes nothing, the others are all written', async () => {
      const a = `thing-${randomUUID()}`;
      const b = `thing-${randomUUID()}`;
      const key = `claim-${randomUUID()}`;
      const results = await Promise.allSettled([
        store.append(a, [counted(1)], { expectedVersion: 'no_stream', claims: [key] }),
        store.append(a, [counted(2)], { expectedVersion: 'no_stream' }),
        store.append(b, [counted(3), counted(4)], { expectedVersion: 'no_stream' }),
        store.append(b, [counted(5)], { expectedVersion: 'any', claims: [key] }),
        store.append(b, [{ ...counted(6), data: { count: 'six' } }], { expectedVersion: 'any' }),
        store.append(b, [counted(7)], { expectedVersion: 'any' }),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
      expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(ClaimConflictError);
      expect((await collect(store.readStream(a))).map((e) => (e.data as { count: number }).count)).toEqual([1]);
      expect((await collect(store.readStream(b))).map((e) => [(e.data as { count: number }).count, e.streamVersion])).toEqual([[3, 0], [4, 1], [7, 2]]);
      expect(await store.claimed([key])).toEqual(new Map([[key, (results[0] as PromiseFulfilledResult<{ position: string }>).value.position]]));
    });

    it('rejects a stale expected version with the expected and actual versions, writing nothing', async () => {
      await store.append(stream, [counted(1), counted(2)], { expectedVersion: 'no_stream' });
      const err = await store.append(stream, [counted(3)], { expectedVersion: 0 }).catch((e) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ expected: '0', actual: '1' });
      await expect(store.append(stream, [counted(3)], { expectedVersion: 'no_stream' })).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(store.append(`thing-${randomUUID()}`, [counted(3)], { expectedVersion: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await collect(store.readStream(stream))).toHaveLength(2);
      expect((await store.append(stream, [counted(3)], { expectedVersion: 'any' })).nextVersion).toBe(2);
    });

    it('lets exactly one of two concurrent writers with the same expected version win', async () => {
      await store.append(stream, [counted(1)], { expectedVersion: 'no_stream' });
      const results = await Promise.allSettled([store.append(stream, [counted(2)], { expectedVersion: 0 }), store.append(stream, [counted(3)], { expectedVersion: 0 })]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    });

    it('validates every event against its schema and writes none of a batch with one bad event', async () => {
      const bad = { ...counted(2), data: { count: 'two' } };
      await expect(store.append(stream, [counted(1), bad], { expectedVersion: 'no_stream' })).rejects.toBeInstanceOf(EventValidationError);
      await expect(store.append(stream, [{ ...counted(1), type: 'test.unknown' }], { expectedVersion: 'any' })).rejects.toBeInstanceOf(EventValidationError);
      expect(await collect(store.readStream(stream))).toEqual([]);
    });

    it('treats re-appending the same event ids as an idempotent no-op', async () => {
      const events = [counted(1), counted(2)];
      const first = await store.append(stream, events, { expectedVersion: 'no_stream' });
      const again = await store.append(stream, events, { expectedVersion: 'no_stream' });
      expect(again).toEqual(first);
      expect(await collect(store.readStream(stream))).toHaveLength(2);
    });

    it('upcasts an old schema version on read without rewriting it', async () => {
      const oldCode = await fixture.withRegistry(testRegistry(1));
      await oldCode.append(stream, [{ ...counted(0), data: { n: 7 } }], { expectedVersion: 'no_stream' });
      const [read] = await collect(store.readStream(stream));
      expect(read).toMatchObject({ schemaVersion: 2, data: { count: 7 } });
      const [raw] = await collect(oldCode.readStream(stream));
      expect(raw).toMatchObject({ schemaVersion: 1, data: { n: 7 } });
    });

    it('reads an event appended at an older schema version (a copied log) upcast, at once and from the table alike', async () => {
      const before = await store.headPosition();
      await store.append(stream, [{ ...counted(0), schemaVersion: 1, data: { n: 7 } }], { expectedVersion: 'no_stream' });
      const [live] = await collect(store.readAll({ from: before }));
      expect(live).toMatchObject({ schemaVersion: 2, data: { count: 7 } });
      expect(await collect(store.readStream(stream))).toMatchObject([{ schemaVersion: 2, data: { count: 7 } }]);
      await expect(store.append(stream, [{ ...counted(1), schemaVersion: 1, data: { count: 7 } }], { expectedVersion: 0 })).rejects.toThrow(/count/);
    });

    it('reads a stream from a version', async () => {
      await store.append(stream, [counted(1), counted(2), counted(3)], { expectedVersion: 'no_stream' });
      expect((await collect(store.readStream(stream, { fromVersion: 1 }))).map((e) => e.streamVersion)).toEqual([1, 2]);
      expect(await collect(store.readStream(`thing-${randomUUID()}`))).toEqual([]);
    });

    it('reads the global log from a checkpoint, in order, filtered by category or type', async () => {
      const before = await store.headPosition();
      const other = `other-${randomUUID()}`;
      await store.append(stream, [counted(1)], { expectedVersion: 'no_stream' });
      await store.append(other, [noted('a')], { expectedVersion: 'no_stream' });
      await store.append(stream, [counted(2)], { expectedVersion: 0 });
      const all = await collect(store.readAll({ from: before, batchSize: 2 }));
      expect(all.map((e) => e.streamId)).toEqual([stream, other, stream]);
      const positions = all.map((e) => e.globalPosition);
      expect([...positions].sort((a, b) => store.compare(a, b))).toEqual(positions);
      expect((await collect(store.readAll({ from: before, filter: { categories: ['other'] } }))).map((e) => e.data)).toEqual([{ note: 'a' }]);
      expect((await collect(store.readAll({ from: before, filter: { types: ['test.counted'] } }))).map((e) => e.data)).toEqual([{ count: 1 }, { count: 2 }]);
      expect((await collect(store.readAll({ from: all[0]!.globalPosition }))).map((e) => e.id)).toEqual([all[1]!.id, all[2]!.id]);
      expect(await store.headPosition()).toBe(all[2]!.globalPosition);
    });

    it('reads the global log in pages where the adapter offers them: the events readAll reads, cut at the page size and at maxBytes', async () => {
      if (!store.readAllPages) return; // optional: readAll alone serves
      const before = await store.headPosition();
      await store.append(stream, [counted(1), counted(2)], { expectedVersion: 'no_stream' });
      await store.append(`other-${randomUUID()}`, [noted('a'), noted('x'.repeat(5000))], { expectedVersion: 'no_stream' });
      await store.append(stream, [counted(3), counted(4), counted(5)], { expectedVersion: 1 });
      // This client's own appends (an adapter may serve them from memory) and another client's reads from the table.
      for (const reader of [store, await fixture.withRegistry(testRegistry())]) {
        for (const filter of [{}, { categories: ['thing'] }, { types: ['test.noted'] }]) {
          const pages = await collect(reader.readAllPages!({ from: before, batchSize: 2, filter }));
          expect(pages.every((page) => page.events.length >= 1 && page.events.length <= 2)).toBe(true);
          // Every page but the last says more may follow; the last says the read is done, unless it is full.
          expect(pages.slice(0, -1).every((page) => page.more)).toBe(true);
          expect(pages.at(-1)!.more).toBe(pages.at(-1)!.events.length === 2);
          expect(pages.flatMap((page) => page.events).map((e) => e.id)).toEqual((await collect(reader.readAll({ from: before, filter }))).map((e) => e.id));
        }
        // A page closes once it holds maxBytes of data: the large note ends one; a page holds one event at least.
        const byBytes = await collect(reader.readAllPages!({ from: before, batchSize: 100, maxBytes: 1000 }));
        expect(byBytes.map((page) => page.events.length)).toEqual([4, 3]);
        expect((await collect(reader.readAllPages!({ from: before, batchSize: 100, maxBytes: 1 }))).map((page) => page.events.length)).toEqual([1, 1, 1, 1, 1, 1, 1]);
        const upTo = (await collect(reader.readAll({ from: before })))[2]!.globalPosition;
        expect((await collect(reader.readAllPages!({ from: before, to: upTo, batchSize: 10 }))).map((page) => [page.events.length, page.more])).toEqual([[3, false]]);
      }
    });

    it('reads envelopes only when asked: every field as readAll gives it but the data, which stays unread', async () => {
      const before = await store.headPosition();
      await store.append(stream, [counted(1), { ...counted(0), schemaVersion: 1, data: { n: 7 } }], { expectedVersion: 'no_stream' });
      await store.append(`other-${randomUUID()}`, [noted('x'.repeat(5000))], { expectedVersion: 'no_stream' });
      // This client's own appends (an adapter may serve them from memory) and another client's reads from the table.
      for (const reader of [store, await fixture.withRegistry(testRegistry())]) {
        const full = await collect(reader.readAll({ from: before }));
        const envelopes = await collect(reader.readAll({ from: before, envelopeOnly: true }));
        expect(envelopes.map((e) => e.data)).toEqual([undefined, undefined, undefined]);
        expect(envelopes).toEqual(full.map((e) => ({ ...e, data: undefined })));
        if (reader.readAllPages) {
          // No byte budget cuts a page of envelopes: the data they weigh is not read.
          const pages = await collect(reader.readAllPages({ from: before, batchSize: 10, maxBytes: 1, envelopeOnly: true }));
          expect(pages.map((page) => page.events.map((e) => e.id))).toEqual([full.map((e) => e.id)]);
        }
      }
    });

    it('claims keys with an append, once ever: a batch claiming a taken key writes nothing', async () => {
      const k = (n: number) => `claim-${stream}-${n}`;
      expect(await store.claimed([k(1), k(2)])).toEqual(new Map());
      const first = await store.append(stream, [counted(1)], { expectedVersion: 'no_stream', claims: [k(1), k(2)] });
      expect(await store.claimed([k(1), k(2), k(3)])).toEqual(new Map([[k(1), first.position], [k(2), first.position]]));
      // A key asked twice in one call answers once; no keys, no claims.
      expect(await store.claimed([k(2), k(1), k(2)])).toEqual(new Map([[k(2), first.position], [k(1), first.position]]));
      expect(await store.claimed([])).toEqual(new Map());
      const other = `thing-${randomUUID()}`;
      await expect(store.append(other, [counted(2)], { expectedVersion: 'no_stream', claims: [k(3), k(2)] })).rejects.toBeInstanceOf(ClaimConflictError);
      expect(await collect(store.readStream(other))).toEqual([]);
      expect((await store.claimed([k(3)])).size).toBe(0);
      // Concurrent claims of one key: exactly one append wins.
      const racers = await Promise.allSettled([1, 2, 3].map((n) => store.append(`thing-${randomUUID()}`, [counted(n)], { expectedVersion: 'no_stream', claims: [k(9)] })));
      expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    it('reads the global log without an upper bound once per event while appends continue', async () => {
      const before = await store.headPosition();
      await store.append(stream, [counted(0), counted(1), counted(2)], { expectedVersion: 'no_stream' });
      const seen: number[] = [];
      let appended = 3;
      for await (const event of store.readAll({ from: before, batchSize: 2, filter: { categories: ['thing'] } })) {
        if (event.streamId !== stream) continue;
        seen.push((event.data as { count: number }).count);
        if (appended < 20) await store.append(stream, [counted(appended++)], { expectedVersion: 'any' });
      }
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i));
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(seen.length).toBeLessThanOrEqual(20);
    });
  });
}
