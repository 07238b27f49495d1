import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { EventContract, EventRegistry } from '@curbmap/contracts';
import type { DomainEvent } from '@curbmap/contracts';
import { handleCommand, type Checkpoint, type Command, type CommandMetadata, type Decider, type EventStore, type Projection, type ReadStore, type StoredEvent, type Subscriptions } from '@curbmap/eventsourcing';

/** The ports a service receives from the composition root; it never picks an adapter itself. */
export interface ServiceContext {
  store: EventStore;
  readStore: ReadStore;
  subscriptions: Subscriptions;
  registry: EventRegistry;
  log: Logger;
  now(): Date;
  newId(): string;
  /** Resolves once every projection has applied this position: lets a command's answer read its own write. */
  waitForProjections(position: Checkpoint): Promise<void>;
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
  if (consistent && result.position) await ctx.waitForProjections(result.position);
  return result;
}
