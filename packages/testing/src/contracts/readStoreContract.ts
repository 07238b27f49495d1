import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FencedError, type Document, type ReadStore } from '@curbmap/eventsourcing';

export interface ReadStoreFixture {
  readStore: ReadStore;
  close(): Promise<void>;
}

interface Zone extends Document {
  name: string;
  status: string;
  rank: number;
}

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

/** The behaviour every ReadStore adapter must show. */
export function readStoreContract(adapter: string, create: () => Promise<ReadStoreFixture>): void {
  describe(`ReadStore contract: ${adapter}`, () => {
    let fixture: ReadStoreFixture;
    let rs: ReadStore;
    let col: string;
    beforeEach(async () => {
      fixture = await create();
      rs = fixture.readStore;
      col = `zones_${randomUUID().slice(0, 8)}`;
    });
    afterEach(() => fixture.close());

    const zone = (id: string, organizationId: string, status: string, rank: number): Zone => ({ id, organizationId, name: `zone ${id}`, status, rank });

    it('stores, replaces, reads and deletes documents', async () => {
      await rs.transaction(async (tx) => {
        await tx.put(col, zone('z1', A, 'active', 1));
        await tx.put(col, zone('z1', A, 'retired', 1));
        expect(await tx.get<Zone>(col, 'z1')).toMatchObject({ status: 'retired' });
      });
      expect(await rs.get<Zone>(col, 'z1')).toEqual(zone('z1', A, 'retired', 1));
      await rs.transaction((tx) => tx.delete(col, 'z1'));
      expect(await rs.get(col, 'z1')).toBeNull();
    });

    it('finds by equality within one organization, ordered and limited', async () => {
      await rs.ensureIndex(col, 'status');
      await rs.transaction(async (tx) => {
        await tx.put(col, zone('z1', A, 'active', 3));
        await tx.put(col, zone('z2', A, 'active', 1));
        await tx.put(col, zone('z3', A, 'retired', 2));
        await tx.put(col, zone('z4', B, 'active', 0));
      });
      expect((await rs.find<Zone>(col, { organizationId: A, status: 'active' }, { orderBy: 'rank' })).map((z) => z.id)).toEqual(['z2', 'z1']);
      expect((await rs.find<Zone>(col, { organizationId: A }, { orderBy: 'rank', direction: 'desc', limit: 2 })).map((z) => z.id)).toEqual(['z1', 'z3']);
      expect((await rs.find<Zone>(col, { organizationId: B })).map((z) => z.id)).toEqual(['z4']);
      expect(await rs.find(col, { organizationId: A, status: 'missing' })).toEqual([]);
    });

    it('finds by range on a field (strings compare as ISO instants do, numbers as numbers)', async () => {
      await rs.transaction(async (tx) => {
        for (const [id, rank] of [['z1', 1], ['z2', 5], ['z3', 10], ['z4', 20]] as const) await tx.put(col, { ...zone(id, A, 'active', rank), dueAt: `2027-01-${String(rank).padStart(2, '0')}T00:00:00.000Z` });
      });
      expect((await rs.find<Zone>(col, { organizationId: A, rank: { $gte: 5, $lt: 20 } }, { orderBy: 'rank' })).map((z) => z.id)).toEqual(['z2', 'z3']);
      expect((await rs.find<Zone>(col, { dueAt: { $lte: '2027-01-05T00:00:00.000Z' } }, { orderBy: 'rank' })).map((z) => z.id)).toEqual(['z1', 'z2']);
      expect((await rs.find<Zone>(col, { organizationId: A, rank: { $gt: 20 } })).map((z) => z.id)).toEqual([]);
    });

    it('rolls a failed transaction back entirely, checkpoint included', async () => {
      const name = `projection-${randomUUID()}`;
      await rs.transaction((tx) => tx.saveCheckpoint(name, '5'));
      await expect(
        rs.transaction(async (tx) => {
          await tx.put(col, zone('z1', A, 'active', 1));
          await tx.saveCheckpoint(name, '9');
          throw new Error('projection bug');
        }),
      ).rejects.toThrow('projection bug');
      expect(await rs.get(col, 'z1')).toBeNull();
      expect(await rs.loadCheckpoint(name)).toBe('5');
    });

    it('pages with a keyset cursor: every document once, in order, while documents are added between pages', async () => {
      await rs.transaction(async (tx) => {
        for (let i = 0; i < 25; i++) await tx.put(col, zone(`z${String(i).padStart(2, '0')}`, A, 'active', i % 4));
        await tx.put(col, zone('other', B, 'active', 0));
      });
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      do {
        const page: Awaited<ReturnType<typeof rs.findPage<Zone>>> = await rs.findPage<Zone>(col, { organizationId: A }, { orderBy: 'rank', limit: 7, after });
        seen.push(...page.items.map((z) => `${z.rank}:${z.id}`));
        after = page.next;
        pages += 1;
        // A document sorting before the cursor must not shift the pages that follow.
        if (pages === 1) await rs.transaction((tx) => tx.put(col, zone('a-late', A, 'active', 0)));
      } while (after);
      expect(pages).toBe(4);
      expect(seen).toHaveLength(25);
      expect(new Set(seen).size).toBe(25);
      expect(seen).toEqual([...seen].sort());
      const desc = await rs.findPage<Zone>(col, { organizationId: A }, { limit: 3, direction: 'desc' });
      expect(desc.items.map((z) => z.id)).toEqual(['z24', 'z23', 'z22']);
      const rest = await rs.findPage<Zone>(col, { organizationId: A }, { limit: 100, direction: 'desc', after: desc.next });
      expect(rest.items[0]!.id).toBe('z21');
      expect(rest.next).toBeNull();
      await expect(rs.findPage(col, { organizationId: A }, { limit: 3, after: 'not-a-cursor' })).rejects.toThrow('invalid cursor');
    });

    it('selects and pages by a range of ids (a prefix), byte order, with the cursor in the same range', async () => {
      await rs.transaction(async (tx) => {
        for (const id of ['p1:c', 'p1:a', 'p1:B', 'p10:a', 'p1;', 'p0:z', 'p1:b']) await tx.put(col, zone(id, A, 'active', 0));
        await tx.put(col, zone('p1:other-org', B, 'active', 0));
      });
      const inP1 = { organizationId: A, id: { $gte: 'p1:', $lt: 'p1;' } };
      // 'B' sorts before 'a' in byte order (every adapter's, whatever the database's collation).
      expect((await rs.find<Zone>(col, inP1)).map((z) => z.id)).toEqual(['p1:B', 'p1:a', 'p1:b', 'p1:c']);
      expect(await rs.count(col, inP1)).toBe(4);
      const first = await rs.findPage<Zone>(col, inP1, { limit: 3 });
      expect(first.items.map((z) => z.id)).toEqual(['p1:B', 'p1:a', 'p1:b']);
      const second = await rs.findPage<Zone>(col, inP1, { limit: 3, after: first.next });
      expect(second.items.map((z) => z.id)).toEqual(['p1:c']);
      expect(second.next).toBeNull();
    });

    it('loads empty collections without their secondary indexes, where it can, and builds them after', async () => {
      if (!rs.bulkLoad) return;
      await rs.ensureIndex(col, 'rank');
      const built = await rs.bulkLoad([col], { [col]: ['rank'] });
      expect(built).not.toBeNull();
      await rs.transaction(async (tx) => {
        for (let i = 0; i < 20; i++) await tx.put(col, zone(`z${String(i).padStart(2, '0')}`, i % 2 ? A : B, 'active', i));
      });
      expect((await rs.find<Zone>(col, { organizationId: A, rank: { $gte: 15 } }, { orderBy: 'rank' })).map((z) => z.id)).toEqual(['z15', 'z17', 'z19']);
      // What the load wrote is read back (and replaced, not doubled); what it did not write is not there.
      await rs.transaction(async (tx) => {
        expect(await tx.get<Zone>(col, 'z03')).toMatchObject({ rank: 3 });
        expect(await tx.get(col, 'z99')).toBeNull();
        await tx.put(col, zone('z03', A, 'retired', 3));
      });
      expect(await rs.get<Zone>(col, 'z03')).toMatchObject({ status: 'retired' });
      expect(await rs.count(col, { organizationId: A })).toBe(10);
      await rs.ensureIndex(col, 'rank');
      await built!();
      expect((await rs.find<Zone>(col, { organizationId: A, rank: { $gte: 15 } }, { orderBy: 'rank' })).map((z) => z.id)).toEqual(['z15', 'z17', 'z19']);
      expect(await rs.count(col, { organizationId: B })).toBe(10);
      // A collection holding documents keeps its indexes.
      expect(await rs.bulkLoad([col])).toBeNull();
    });

    it('keeps checkpoints and resets a projection to nothing', async () => {
      const name = `projection-${randomUUID()}`;
      expect(await rs.loadCheckpoint(name)).toBeNull();
      await rs.transaction(async (tx) => {
        await tx.put(col, zone('z1', A, 'active', 1));
        await tx.saveCheckpoint(name, '42');
      });
      expect(await rs.loadCheckpoint(name)).toBe('42');
      await rs.reset(name, [col]);
      expect(await rs.loadCheckpoint(name)).toBeNull();
      expect(await rs.find(col, { organizationId: A })).toEqual([]);
    });

    it('fences a checkpoint: a writer whose fence another took writes nothing; its parts go with a reset', async () => {
      const name = `projection-${randomUUID()}`;
      const part = `${name}@topic:0`;
      await rs.transaction((tx) => tx.saveCheckpoint(name, 'marker'));
      const first = await rs.fenceCheckpoint(part);
      expect(first).toEqual({ fence: 1, position: null });
      await rs.transaction(async (tx) => {
        await tx.put(col, zone('z1', A, 'active', 1));
        await tx.saveCheckpoint(part, 'p1', first.fence);
      });
      // Another process takes the partition over: it reads what the first stored, under a higher fence.
      const second = await rs.fenceCheckpoint(part);
      expect(second).toEqual({ fence: 2, position: 'p1' });
      // The first, still working, can no longer write: neither its documents nor its checkpoint.
      await expect(
        rs.transaction(async (tx) => {
          await tx.put(col, zone('z2', A, 'active', 2));
          await tx.saveCheckpoint(part, 'p-stale', first.fence);
        }),
      ).rejects.toThrow(FencedError);
      expect(await rs.get(col, 'z2')).toBeNull();
      expect(await rs.loadCheckpoint(part)).toBe('p1');
      await rs.transaction((tx) => tx.saveCheckpoint(part, 'p2', second.fence));
      expect(await rs.loadCheckpoint(part)).toBe('p2');
      expect(await rs.loadCheckpoints(`${name}@`)).toEqual(new Map([[part, 'p2']]));
      await rs.reset(name, [col]);
      expect([await rs.loadCheckpoint(name), await rs.loadCheckpoint(part), [...(await rs.loadCheckpoints(name)).values()].filter((p) => p !== null)]).toEqual([null, null, []]);
      // A process still holding the part when it was reset writes nothing; the next to take it starts from nothing.
      await expect(rs.transaction((tx) => tx.saveCheckpoint(part, 'p3', second.fence))).rejects.toThrow(FencedError);
      expect((await rs.fenceCheckpoint(part)).position).toBeNull();
    });

    it('counts the documents a filter selects, in its organization only', async () => {
      await rs.transaction(async (tx) => {
        for (let i = 0; i < 5; i++) await tx.put(col, zone(`a${i}`, A, i % 2 ? 'active' : 'retired', i));
        await tx.put(col, zone('b0', B, 'active', 1));
      });
      expect(await rs.count(col, { organizationId: A })).toBe(5);
      expect(await rs.count(col, { organizationId: A, status: 'active' })).toBe(2);
      expect(await rs.count(col, { organizationId: A, rank: { $gte: 3 } })).toBe(2);
    });

    it('reads a snapshot: writes committed while it is open are not in it, checkpoint included', async () => {
      const name = `projection-${randomUUID()}`;
      await rs.transaction(async (tx) => {
        for (let i = 0; i < 10; i++) await tx.put(col, zone(`z${String(i).padStart(2, '0')}`, A, 'active', i));
        await tx.saveCheckpoint(name, '10');
      });
      const seen = await rs.snapshot(async (reader) => {
        const first = await reader.findPage<Zone>(col, { organizationId: A }, { limit: 4 });
        // Projections go on writing while an export reads page after page.
        await rs.transaction(async (tx) => {
          await tx.put(col, zone('z99', A, 'active', 99));
          await tx.delete(col, 'z05');
          await tx.put(col, zone('z06', A, 'retired', 6));
          await tx.saveCheckpoint(name, '13');
        });
        const rest = await reader.findPage<Zone>(col, { organizationId: A }, { limit: 100, after: first.next });
        return { items: [...first.items, ...rest.items], count: await reader.count(col, { organizationId: A }), checkpoint: await reader.loadCheckpoint(name) };
      });
      expect(seen.items.map((z) => z.id)).toEqual(['z00', 'z01', 'z02', 'z03', 'z04', 'z05', 'z06', 'z07', 'z08', 'z09']);
      expect(seen.items.find((z) => z.id === 'z06')?.status).toBe('active');
      expect(seen.count).toBe(10);
      expect(seen.checkpoint).toBe('10');
      // Outside the snapshot, the writes are there.
      expect(await rs.count(col, { organizationId: A })).toBe(10);
      expect(await rs.loadCheckpoint(name)).toBe('13');
    });
  });
}
