import type { NewEvent } from '@curbmap/contracts';
import type { EventStore, StoredEvent } from '../ports/eventStore.ts';

export interface CopyableLog {
  readAll: EventStore['readAll'];
  compare: EventStore['compare'];
  claimsInPositionOrder(): Iterable<{ key: string; position: string }> | AsyncIterable<{ key: string; position: string }>;
}

/**
 * Copies a log into another store (an embedded or PostgreSQL log into PostgreSQL or KurrentDB): every event in log
 * order, with its id, stream, version, schema version and data as stored (both stores without a registry: nothing
 * upcast or re-validated), and every claim with the append it belongs to. Runs of one stream's events are
 * appended together, each expecting the version before it, up to `groupSize` events or `groupBytes` of data (a
 * store may bound one append: KurrentDB's is 1 MiB by default); an append that made claims ends a run, so each claim
 * stays with the events it was made with. Run again (after a crash halfway), it appends what is missing: events
 * already there are recognised by their ids and change nothing.
 */
export async function copyLog(source: CopyableLog, target: EventStore, options: { groupSize?: number; groupBytes?: number; onProgress?: (events: number) => void } = {}): Promise<{ events: number; claims: number }> {
  const groupSize = options.groupSize ?? 500;
  const groupBytes = options.groupBytes ?? 512 * 1024;
  let bytes = 0;
  const all = source.claimsInPositionOrder();
  const claims: Iterator<{ key: string; position: string }> | AsyncIterator<{ key: string; position: string }> = Symbol.asyncIterator in all ? all[Symbol.asyncIterator]() : all[Symbol.iterator]();
  let nextClaim = await claims.next();
  let events = 0;
  let claimed = 0;
  let group: StoredEvent[] = [];
  const flush = async () => {
    const first = group[0]!;
    const last = group[group.length - 1]!.globalPosition;
    const keys: string[] = [];
    while (!nextClaim.done && source.compare(nextClaim.value.position, last) <= 0) {
      keys.push(nextClaim.value.key);
      nextClaim = await claims.next();
    }
    const copies: NewEvent[] = group.map((e) => ({ id: e.id, type: e.type, schemaVersion: e.schemaVersion, occurredAt: e.occurredAt, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.causationId, data: e.data, ...(e.projectId ? { projectId: e.projectId } : {}) }));
    await target.append(first.streamId, copies, { expectedVersion: first.streamVersion === 0 ? 'no_stream' : first.streamVersion - 1, ...(keys.length ? { claims: keys } : {}) });
    events += group.length;
    claimed += keys.length;
    options.onProgress?.(events);
    group = [];
    bytes = 0;
  };
  for await (const event of source.readAll({ batchSize: 1000 })) {
    const size = JSON.stringify(event.data).length;
    if (group.length > 0 && (group[0]!.streamId !== event.streamId || group.length >= groupSize || bytes + size > groupBytes)) await flush();
    group.push(event);
    bytes += size;
    // The claims of the append that ended with this event: the run ends here, so they are copied with it.
    if (!nextClaim.done && source.compare(nextClaim.value.position, event.globalPosition) === 0) await flush();
  }
  if (group.length > 0) await flush();
  return { events, claims: claimed };
}
