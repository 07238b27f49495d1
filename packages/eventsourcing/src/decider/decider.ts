import type { DomainEvent } from '@curbmap/contracts';

/** What every command carries besides its data: the domain never reads the clock or makes ids itself. */
export interface CommandMetadata {
  /** Stable across client retries (Idempotency-Key or a source event id): event ids derive from it. */
  commandId: string;
  /** ISO UTC instant. */
  now: string;
  organizationId: string;
  projectId?: string;
  correlationId?: string;
  causationId?: string;
}

export interface Command<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
  metadata: CommandMetadata;
}

export interface Decider<C extends Command, E extends DomainEvent, S> {
  initialState(): S;
  /** Pure: the events that the command causes in this state, or a DomainError. */
  decide(command: C, state: S): E[];
  /** Pure: the state after the event. */
  evolve(state: S, event: E): S;
}
