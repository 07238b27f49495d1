/** The envelope every stored event carries (see docs/architecture/event-sourcing.md). */
export interface EventEnvelope<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  schemaVersion: number;
  streamId: string;
  /** 0-based revision of the event inside its stream, as in EventStoreDB. */
  streamVersion: number;
  /** Opaque checkpoint of the event in the global log (SQLite: row number; EventStoreDB: commit/prepare). */
  globalPosition: string;
  occurredAt: string;
  organizationId: string;
  projectId?: string;
  correlationId: string;
  causationId: string;
  data: Data;
}

/** What a writer hands to the store; the store assigns stream version and global position. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  id: string;
  type: Type;
  /** Defaults to the current version registered for the type. */
  schemaVersion?: number;
  occurredAt: string;
  organizationId: string;
  projectId?: string;
  correlationId?: string;
  causationId?: string;
  data: Data;
}

/** A domain event as deciders produce it: no metadata, just the fact. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
}

export function categoryOf(streamId: string): string {
  const dash = streamId.indexOf('-');
  return dash === -1 ? streamId : streamId.slice(0, dash);
}
