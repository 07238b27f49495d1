import type { DomainEvent, NewEvent } from '@curbmap/contracts';
import { ConcurrencyError } from '../errors.ts';
import type { EventStore } from '../ports/eventStore.ts';
import type { Command, Decider } from './decider.ts';
import { deterministicUuid } from './deterministicId.ts';

export interface CommandResult<E extends DomainEvent, S> {
  state: S;
  /** Events this call appended, or those a previous call with the same command id appended. */
  events: E[];
  nextVersion: number;
  /** Global position of the last event; wait for it to read your own writes. */
  position: string | null;
  /** True when this command id had already been handled and nothing new was written. */
  replayed: boolean;
}

export function eventIdFor(commandId: string, index: number): string {
  return deterministicUuid(`${commandId}:${index}`);
}

/** A stream's current state: its events folded through the decider's evolve (reads that decide nothing). */
export async function loadState<E extends DomainEvent, S>(store: EventStore, decider: Pick<Decider<Command, E, S>, 'initialState' | 'evolve'>, streamId: string): Promise<S> {
  let state = decider.initialState();
  for await (const stored of store.readStream(streamId)) state = decider.evolve(state, { type: stored.type, data: stored.data } as E);
  return state;
}

/**
 * Load → evolve → decide → append with the expected version. On a concurrency conflict the whole cycle
 * runs again (bounded). A command whose events are already in the stream is answered from them.
 */
export async function handleCommand<C extends Command, E extends DomainEvent, S>(
  store: EventStore,
  decider: Decider<C, E, S>,
  streamId: string,
  command: C,
  { maxAttempts = 5 }: { maxAttempts?: number } = {},
): Promise<CommandResult<E, S>> {
  for (let attempt = 1; ; attempt++) {
    let state = decider.initialState();
    let version = -1;
    let position: string | null = null;
    const earlier: E[] = [];
    let nextEarlierId = eventIdFor(command.metadata.commandId, 0);
    for await (const stored of store.readStream(streamId)) {
      const event = { type: stored.type, data: stored.data } as E;
      state = decider.evolve(state, event);
      version = stored.streamVersion;
      if (stored.id === nextEarlierId) {
        earlier.push(event);
        position = stored.globalPosition;
        nextEarlierId = eventIdFor(command.metadata.commandId, earlier.length);
      }
    }
    if (earlier.length > 0) return { state, events: earlier, nextVersion: version, position, replayed: true };
    const events = decider.decide(command, state);
    if (events.length === 0) return { state, events, nextVersion: version, position: null, replayed: false };
    const { metadata } = command;
    const toAppend: NewEvent[] = events.map((e, i) => {
      const newEvent: NewEvent = {
        id: eventIdFor(metadata.commandId, i),
        type: e.type,
        data: e.data,
        occurredAt: metadata.now,
        organizationId: metadata.organizationId,
        correlationId: metadata.correlationId ?? metadata.commandId,
        causationId: metadata.causationId ?? metadata.commandId,
      };
      if (metadata.projectId) newEvent.projectId = metadata.projectId;
      return newEvent;
    });
    try {
      const result = await store.append(streamId, toAppend, { expectedVersion: version === -1 ? 'no_stream' : version });
      for (const e of events) state = decider.evolve(state, e);
      return { state, events, nextVersion: result.nextVersion, position: result.position, replayed: false };
    } catch (err) {
      if (!(err instanceof ConcurrencyError) || attempt >= maxAttempts) throw err;
    }
  }
}
