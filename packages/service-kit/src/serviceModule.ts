import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { EventContract, EventRegistry } from '@curbmap/contracts';
import type { Checkpoint, CommandMetadata, EventStore, Projection, ReadStore, Subscriptions } from '@curbmap/eventsourcing';

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
