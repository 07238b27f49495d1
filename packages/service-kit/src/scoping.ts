import type { FastifyRequest } from 'fastify';
import type { Document, ReadStore } from '@curbmap/eventsourcing';
import type { KeyAuth } from './auth.ts';
import { forbidden, notFound, unauthorized } from './problem.ts';

/** The calling organization's key; routes marked `auth: 'key'` always have one. */
export function keyAuth(request: FastifyRequest): KeyAuth {
  const auth = request.auth;
  if (auth?.kind !== 'key') throw unauthorized();
  return auth;
}

/**
 * What a project-restricted key may not read: the organization's money and billing (invoices and their documents,
 * payments, credit, payment terms, the invoice template and billing details), its webhook endpoints and their
 * delivery logs (which carry every project's events), and organization-wide usage (quotas, closed periods). It
 * reads its project: usage, curbs, the CDS feed, exports of its project, and the subscription (plan, seats, period, price).
 */
export function organizationReadAuth(request: FastifyRequest, what: string): KeyAuth {
  return organizationKeyAuth(request, `read ${what}: it is the organization's, not one project's`);
}

/** Organization-wide actions (billing, projects, keys beyond its project) are not for project-restricted keys. */
export function organizationKeyAuth(request: FastifyRequest, action: string): KeyAuth {
  const auth = keyAuth(request);
  if (auth.projectId) throw forbidden(`a key restricted to one project cannot ${action}`);
  return auth;
}

/** A key restricted to a project may only name that project. */
export function assertProjectAccess(auth: KeyAuth, projectId: string | null | undefined): void {
  if (auth.projectId && projectId !== auth.projectId) {
    if (projectId) throw notFound('project');
    throw forbidden(`this API key is restricted to project ${auth.projectId}`);
  }
}

/**
 * Reads one document of the caller's organization. Another organization's document answers 404, exactly as a
 * missing one, so ids of other tenants cannot be probed.
 */
export async function getScoped<T extends Document>(readStore: ReadStore, auth: KeyAuth, collection: string, id: string, what: string): Promise<T> {
  const doc = await readStore.get<T>(collection, id);
  if (!doc || doc.organizationId !== auth.organizationId) throw notFound(what);
  return doc;
}
