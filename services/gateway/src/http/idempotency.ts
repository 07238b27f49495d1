import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Document, ReadStore } from '@curbmap/eventsourcing';
import { HttpError } from '@curbmap/service-kit';

const COLLECTION = 'idempotency_records';
const TTL_MS = 24 * 60 * 60 * 1000;
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface IdempotencyRecord extends Document {
  requestHash: string;
  statusCode: number;
  contentType: string | null;
  /** Null when the answer held a secret: it is never stored, the retry runs again (and finds its events). */
  body: string | null;
  /** The project the first caller's key was restricted to (null: organization-wide or admin). */
  projectId: string | null;
  createdAt: string;
}

interface Pending {
  recordId: string;
  scope: string;
  requestHash: string;
  replayed: boolean;
}

const pendingKey = Symbol('idempotency');
type WithPending = FastifyRequest & { [pendingKey]?: Pending };

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Idempotency-Key, as Stripe does it: the first successful answer to a key is stored for 24 h and replayed to
 * retries; the same key with another request is refused. The key also seeds the command id, so the events a
 * retry would append carry the ids of the first attempt and the store ignores them. An answer holding a secret
 * (a new API key) is not stored: its retry runs again, finds its events, and answers without the secret.
 */
export function registerIdempotency(app: FastifyInstance, readStore: ReadStore, now: () => Date): { purge(): Promise<number> } {
  const inFlight = new Set<string>();

  app.addHook('preHandler', async (request: WithPending, reply: FastifyReply) => {
    request.commandId = randomUUID();
    const header = request.headers['idempotency-key'];
    if (!MUTATING.has(request.method) || header === undefined) return;
    const key = Array.isArray(header) ? header[0]! : header;
    if (key.length < 1 || key.length > 255) throw new HttpError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 characters');
    const scope = request.auth?.kind === 'key' ? request.auth.organizationId : 'platform';
    const recordId = sha256(`${scope}\n${key}`);
    const requestHash = sha256(`${request.method}\n${request.url}\n${JSON.stringify(request.body ?? null)}`);
    // The same key with the same request always makes the same command (and event ids), even after the record
    // is purged; the same key reused later for another request makes a new one.
    request.commandId = `idem-${sha256(`${recordId}\n${requestHash}`)}`;
    const record = await readStore.get<IdempotencyRecord>(COLLECTION, recordId);
    if (record && now().getTime() - Date.parse(record.createdAt) < TTL_MS) {
      if (record.requestHash !== requestHash) {
        throw new HttpError(422, 'idempotency_key_reused', 'this Idempotency-Key was already used with a different request');
      }
      // A key restricted to a project may not read an answer given to a wider caller: the request runs again
      // and meets the route's own checks (which refuse it, or answer it from the events it already wrote).
      const callerProject = request.auth?.kind === 'key' ? request.auth.projectId : null;
      const mayReplay = callerProject === null || callerProject === record.projectId;
      if (record.body !== null && mayReplay) {
        request[pendingKey] = { recordId, scope, requestHash, replayed: true };
        reply.code(record.statusCode).header('idempotent-replayed', 'true');
        if (record.contentType) reply.header('content-type', record.contentType);
        return reply.send(record.body);
      }
      // An answer that held a secret runs again (the secret is not shown twice) but is still a replay.
      if (record.body === null && mayReplay) reply.header('idempotent-replayed', 'true');
    }
    if (inFlight.has(recordId)) throw new HttpError(409, 'idempotency_key_in_use', 'a request with this Idempotency-Key is still being processed; retry later');
    inFlight.add(recordId);
    request[pendingKey] = { recordId, scope, requestHash, replayed: false };
  });

  app.addHook('onSend', async (request: WithPending, reply, payload) => {
    const pending = request[pendingKey];
    // Only successes are stored: a refused request writes nothing, and its retry is judged afresh. A 202 for a
    // lagging read model is not final either: its retry finds its events and answers with the resource.
    if (!pending || pending.replayed || reply.statusCode >= 300 || reply.statusCode === 202) return payload;
    const body = typeof payload === 'string' ? payload : payload == null ? '' : null;
    if (body === null) return payload;
    const record: IdempotencyRecord = {
      id: pending.recordId,
      organizationId: pending.scope,
      requestHash: pending.requestHash,
      statusCode: reply.statusCode,
      contentType: (reply.getHeader('content-type') as string | undefined) ?? null,
      body: request.routeOptions.config?.responseContainsSecret ? null : body,
      projectId: request.auth?.kind === 'key' ? request.auth.projectId : null,
      createdAt: now().toISOString(),
    };
    await readStore.transaction((tx) => tx.put(COLLECTION, record));
    return payload;
  });

  app.addHook('onResponse', async (request: WithPending) => {
    const pending = request[pendingKey];
    if (pending && !pending.replayed) inFlight.delete(pending.recordId);
  });

  /** Forgets records past their 24 h, in bounded batches; a purged key can be used again. */
  async function purge(): Promise<number> {
    const cutoff = new Date(now().getTime() - TTL_MS).toISOString();
    let purged = 0;
    for (;;) {
      const old = await readStore.find<IdempotencyRecord>(COLLECTION, { createdAt: { $lt: cutoff } }, { limit: 500 });
      if (old.length === 0) return purged;
      await readStore.transaction(async (tx) => {
        for (const r of old) await tx.delete(COLLECTION, r.id);
      });
      purged += old.length;
    }
  }
  const timer = setInterval(() => void purge().catch((err) => app.log.error({ err }, 'idempotency purge failed')), 60 * 60 * 1000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
  return { purge };
}
