import type { EventRegistry } from '@curbmap/contracts';
import type { StoredEvent } from '../ports/eventStore.ts';

/** The columns every SQL event store keeps of an event (positions and data are each adapter's own). */
export interface EventRowColumns {
  id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  schema_version: number;
  occurred_at: string;
  organization_id: string;
  project_id: string | null;
  correlation_id: string;
  causation_id: string;
}

/** A row as the envelope readers get, upcast to the current schema when a registry is given. */
export function rowToEvent(row: EventRowColumns, globalPosition: string, data: unknown, registry: EventRegistry | undefined): StoredEvent {
  const event: StoredEvent = {
    id: row.id,
    type: row.type,
    schemaVersion: row.schema_version,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    globalPosition,
    occurredAt: row.occurred_at,
    organizationId: row.organization_id,
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    data,
  };
  if (row.project_id !== null) event.projectId = row.project_id;
  return registry ? registry.upcast(event) : event;
}
