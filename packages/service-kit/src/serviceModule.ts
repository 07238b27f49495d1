import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { EventContract, EventRegistry } from '@curbmap/contracts';
import type { DomainEvent } from '@curbmap/contracts';
import { handleCommand, type Command, type CommandMetadata, type Decider, type EventStore, type Projection, type ReadStore, type StoredEvent, type StreamWrite, type Subscriptions } from '@curbmap/eventsourcing';

/** The ports a service receives from the composition root; it never picks an adapter itself. */
export interface ServiceContext {
  store: EventStore;
  readStore: ReadStore;
  subscriptions: Subscriptions;
  registry: EventRegistry;
  log: Logger;
  now(): Date;
  newId(): string;
  /**
   * Resolves once every read model that takes this write shows it, so a command's answer reads its own write.
   * Bounded: a read model that lags longer makes it throw NotYetVisibleError (the command did commit).
   */
  waitForReadModels(write: StreamWrite): Promise<void>;
}

export interface Running {
  stop(): Promise<void>;
}

/** What each service hands to a composition root (embedded: all in one process; distributed: one each). */
export interface ServiceModule {
  name: string;
  contracts: EventContract[];
  projections: Projection[];
  /** Registers the service's public routes; the gateway has already authenticated the request. */
  routes?(app: FastifyInstance, ctx: ServiceContext): Promise<void>;
  /**
   * Hooks that belong at the edge, on every request the gateway answers (API usage metering); the gateway runs
   * them whether the routes are served in its process or forwarded to the service's.
   */
  edge?(app: FastifyInstance, ctx: ServiceContext): Promise<void>;
  /** Starts process managers and other subscriptions. */
  start?(ctx: ServiceContext): Promise<Running>;
}

/** Metadata of a command issued by an HTTP request. */
export function commandMetadata(request: FastifyRequest, ctx: ServiceContext, organizationId: string, projectId?: string): CommandMetadata {
  const meta: CommandMetadata = { commandId: request.commandId, now: ctx.now().toISOString(), organizationId, correlationId: String(request.id) };
  if (projectId) meta.projectId = projectId;
  return meta;
}

/** Metadata of a command a process issues in reaction to an event: the command id derives from it (redelivery is harmless). */
export function reactionMetadata(stored: StoredEvent, action: string): CommandMetadata {
  return { commandId: `${action}:${stored.id}`, now: stored.occurredAt, organizationId: stored.organizationId, correlationId: stored.correlationId, causationId: stored.id };
}

/**
 * Runs a command on its stream. `consistent` (for HTTP answers) waits until every projection shows the change,
 * so the caller reads its own write; a process reacting to events does not need to wait.
 */
export async function runCommand<C extends Command, E extends DomainEvent, S>(ctx: ServiceContext, decider: Decider<C, E, S>, streamId: string, command: C, { consistent = true }: { consistent?: boolean } = {}) {
  const result = await handleCommand(ctx.store, decider, streamId, command);
  const write = result.position ? { streamId, version: result.nextVersion, types: result.events.map((e) => e.type), position: result.position } : null;
  if (consistent && write) await ctx.waitForReadModels(write);
  return { ...result, write };
}

/**
 * Waits until each named subscription of this process has applied everything appended so far (the log's head when
 * called); one not running here is not waited for. A wait that runs out throws (the caller's event is retried).
 */
export async function subscriptionsAtHead(ctx: ServiceContext, names: readonly string[], timeoutMs?: number): Promise<void> {
  const head = await ctx.store.headPosition();
  if (head === null) return;
  for (const name of names) await ctx.subscriptions.list().find((s) => s.name === name)?.waitFor(head, timeoutMs);
}

/** A stored event as a write to wait for (a process reading what its source event projected). */
export function writeOf(stored: StoredEvent): StreamWrite {
  return { streamId: stored.streamId, version: stored.streamVersion, types: [stored.type], position: stored.globalPosition };
}
