import type { NewEvent } from '@curbmap/contracts';
import type { EventStore, StoredEvent } from '../ports/eventStore.ts';

export interface CopyableLog {
  readAll: EventStore['readAll'];
  claimsInPositionOrder(): Iterable<{ key: string; position: string }>;
}

/**
 * Copies a log into another store (an embedded installation's SQLite log into PostgreSQL): every event in log
 * order, with its id, stream, version, schema version and data as stored (both stores without a registry: nothing
 * upcast or re-validated), and every claim with the append it belongs to. Runs of one stream's events are
 * appended together, each expecting the version before it. Run again (after a crash halfway), it appends what is
 * missing: events already there are recognised by their ids and change nothing.
 */
export async function copyLog(source: CopyableLog, target: EventStore, options: { groupSize?: number; onProgress?: (events: number) => void } = {}): Promise<{ events: number; claims: number }> {
  const groupSize = options.groupSize ?? 500;
  const claims = source.claimsInPositionOrder()[Symbol.iterator]();
  let nextClaim = claims.next();
  let events = 0;
  let claimed = 0;
  let group: StoredEvent[] = [];
  const flush = async () => {
    const first = group[0]!;
    const last = Number(group[group.length - 1]!.globalPosition);
    const keys: string[] = [];
    while (!nextClaim.done && Number(nextClaim.value.position) <= last) {
      keys.push(nextClaim.value.key);
      nextClaim = claims.next();
    }
    const copies: NewEvent[] = group.map((e) => ({ id: e.id, type: e.type, schemaVersion: e.schemaVersion, occurredAt: e.occurredAt, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.causationId, data: e.data, ...(e.projectId ? { projectId: e.projectId } : {}) }));
    await target.append(first.streamId, copies, { expectedVersion: first.streamVersion === 0 ? 'no_stream' : first.streamVersion - 1, ...(keys.length ? { claims: keys } : {}) });
    events += group.length;
    claimed += keys.length;
    options.onProgress?.(events);
    group = [];
  };
  for await (const event of source.readAll({ batchSize: 1000 })) {
    if (group.length > 0 && (group[0]!.streamId !== event.streamId || group.length >= groupSize)) await flush();
    group.push(event);
  }
  if (group.length > 0) await flush();
  return { events, claims: claimed };
}
