import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EventRegistry, exportContracts } from '@curbmap/contracts';
import { collect } from '@curbmap/testing';
import { SqliteDatabase, SqliteEventStore, SqliteReadStore, type StoredEvent } from '@curbmap/eventsourcing';
import { curbCountsCollection, curbImportsCollection, curbInventoryProjection, curbStream, type CurbCountsView, type CurbDocument, type CurbImportView } from './curbInventoryProjection.ts';

const ORG = '00000000-0000-4000-8000-0000000000aa';
const zone = (n: number) => ({ curb_zone_id: `a1000000-0000-4000-8000-${String(n).padStart(12, '0')}`, last_updated_date: 1_700_000_000_000 + n });
const policy = (n: number) => ({ curb_policy_id: `b1000000-0000-4000-8000-${String(n).padStart(12, '0')}` });

describe('curb inventory counts per project', () => {
  it('count objects once each: a replaced object or a redelivered event changes nothing, a delete of a missing zone neither', async () => {
    const readStore = new SqliteReadStore(new SqliteDatabase(':memory:'));
    const project = randomUUID();
    const other = randomUUID();
    const versions = new Map<string, number>();
    const event = (projectId: string, type: string, data: object): StoredEvent => {
      const streamVersion = (versions.get(projectId) ?? -1) + 1;
      versions.set(projectId, streamVersion);
      return { id: randomUUID(), type, schemaVersion: 1, streamId: curbStream(projectId), streamVersion, globalPosition: '0', occurredAt: '2027-01-01T00:00:00.000Z', organizationId: ORG, projectId, correlationId: 'c', causationId: 'c', data };
    };
    const chunk = (projectId: string, zones: object[], policies: object[] = []) => event(projectId, 'curbs.imported', { importId: randomUUID(), chunk: 0, chunks: 1, source: 'cds', cdsVersion: '1.1', zones, areas: [], spaces: [], objects: [], policies });
    const apply = (...events: StoredEvent[]) => readStore.transaction(async (tx) => {
      for (const e of events) await curbInventoryProjection.apply(e, tx);
    });
    const counts = async (projectId: string) => (await readStore.get<CurbCountsView>(curbCountsCollection, projectId))?.counts;

    const first = chunk(project, [zone(1), zone(2), zone(3)], [policy(1)]);
    await apply(first);
    expect(await counts(project)).toEqual({ zones: 3, areas: 0, spaces: 0, objects: 0, policies: 1 });
    // Zones 2 and 3 again (replaced), zone 4 new; then the first chunk redelivered.
    await apply(chunk(project, [zone(2), zone(3), zone(4)]), first);
    expect((await counts(project))?.zones).toBe(4);
    await apply(event(project, 'curbs.zone.upserted', { zone: zone(1) }), event(project, 'curbs.zone.upserted', { zone: zone(5) }));
    expect((await counts(project))?.zones).toBe(5);
    const deleted = event(project, 'curbs.zone.deleted', { curbZoneId: zone(2).curb_zone_id });
    await apply(deleted, deleted, event(project, 'curbs.zone.deleted', { curbZoneId: zone(99).curb_zone_id }));
    expect((await counts(project))?.zones).toBe(4);
    // Deleted, then mapped again: counted again.
    await apply(event(project, 'curbs.zone.upserted', { zone: zone(2) }));
    expect((await counts(project))?.zones).toBe(5);
    expect(await readStore.count('curb_zones', { organizationId: ORG })).toBe(5);
    // A parked chunk retried after later events still counts what it adds; a parked delete retried after the
    // zone was mapped again leaves it.
    const parked = chunk(project, [zone(6), zone(7)]);
    const parkedDelete = event(project, 'curbs.zone.deleted', { curbZoneId: zone(1).curb_zone_id });
    await apply(event(project, 'curbs.zone.upserted', { zone: zone(1) }), parked, parkedDelete);
    expect((await counts(project))?.zones).toBe(7);
    expect(await readStore.get('curb_zones', `${project}:${zone(1).curb_zone_id}`)).not.toBeNull();
    // Another project's zones are its own.
    await apply(chunk(other, [zone(1)]));
    expect((await counts(other))?.zones).toBe(1);
    expect((await counts(project))?.zones).toBe(7);
  });

  it('count an import\'s chunks once each, in whatever order they come: a parked chunk retried after a later one still counts', async () => {
    const readStore = new SqliteReadStore(new SqliteDatabase(':memory:'));
    const project = randomUUID();
    const importId = randomUUID();
    const chunk = (index: number, streamVersion: number, zones: object[]): StoredEvent => ({ id: randomUUID(), type: 'curbs.imported', schemaVersion: 1, streamId: curbStream(project), streamVersion, globalPosition: '0', occurredAt: '2027-01-01T00:00:00.000Z', organizationId: ORG, projectId: project, correlationId: 'c', causationId: 'c', data: { importId, chunk: index, chunks: 2, source: 'cds', cdsVersion: '1.1', zones, areas: [], spaces: [], objects: [], policies: [] } });
    const apply = (e: StoredEvent) => readStore.transaction((tx) => curbInventoryProjection.apply(e, tx));
    const view = () => readStore.get<CurbImportView>(curbImportsCollection, `${project}:${importId}`);
    const first = chunk(0, 0, [zone(1), zone(2)]);
    // Chunk 0 was parked; chunk 1 applied; then the operator retries chunk 0, and a redelivery brings it again.
    await apply(chunk(1, 1, [zone(3)]));
    expect(await view()).toMatchObject({ appliedChunks: 1, counts: { zones: 1 } });
    await apply(first);
    await apply(first);
    expect(await view()).toMatchObject({ chunks: 2, appliedChunks: 2, counts: { zones: 3 } });
    expect((await readStore.get<CurbCountsView>(curbCountsCollection, project))?.counts.zones).toBe(3);
  });

  it('writes each imported object with its text in the stored event, read back from the log or appended live', async () => {
    const database = new SqliteDatabase(':memory:');
    const store = new SqliteEventStore(database, new EventRegistry().register(...exportContracts));
    const readStore = new SqliteReadStore(database);
    const project = randomUUID();
    // Names that a scanner following strings must not misread, coordinates written as sent; enough zones that the
    // chunk is large (small events are not remembered with their text, nothing to gain there).
    const names = ['a "quoted" name', 'back\\slash \\', '],{"zones":[', 'ünïcode ✓', ...Array.from({ length: 400 }, (_, n) => `Zone ${n}`)];
    const zones = names.map((name, n) => ({
      ...zone(n),
      name,
      published_date: 1_700_000_000_000,
      start_date: 1_700_000_000_000,
      curb_policy_ids: [],
      geometry: { type: 'Polygon', coordinates: [[[-87.6298123, 41.8781], [-87.6297, 41.87815], [-87.6297, 41.8782], [-87.6298123, 41.8781]]] },
    }));
    await store.append(curbStream(project), [{ id: randomUUID(), type: 'curbs.imported', data: { importId: randomUUID(), chunk: 0, chunks: 1, source: 'cds', cdsVersion: '1.1', zones, areas: [], spaces: [], objects: [], policies: [] }, occurredAt: '2027-01-01T00:00:00.000Z', organizationId: ORG, projectId: project }], { expectedVersion: 'no_stream' });
    const [live] = await collect(store.readAll({}));
    // Another store on the same database reads it from the table (not from the appender's memory).
    const [fromTable] = await collect(new SqliteEventStore(database, new EventRegistry().register(...exportContracts)).readAll({}));
    for (const event of [live!, fromTable!]) {
      await readStore.reset('inventory', ['curb_zones']);
      await readStore.transaction((tx) => curbInventoryProjection.apply(event, tx));
      for (const z of zones) {
        const id = `${project}:${z.curb_zone_id}`;
        expect((await readStore.get<CurbDocument>('curb_zones', id))?.cds).toEqual(z);
        const row = database.db.prepare('SELECT doc FROM rm_curb_zones WHERE id = ?').get(id) as { doc: string };
        // The zone's own text, as the event holds it, ends the document.
        expect(row.doc.endsWith(`"cds":${JSON.stringify(z)}}`)).toBe(true);
      }
    }
    database.close();
  });
});
