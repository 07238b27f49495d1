import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance } from 'fastify';
import type { EventStore } from '@curbmap/eventsourcing';

// Per request: the appends that may have taken effect. An error after one may follow a write that stands.
const requests = new AsyncLocalStorage<{ writes: number }>();

// An append that failed to connect wrote nothing (refused, the server starting up, no connection in time).
const NEVER_CONNECTED = new Set(['ECONNREFUSED', '57P03']);
const neverConnected = (err: unknown) => NEVER_CONNECTED.has(String((err as { code?: unknown }).code)) || /^timeout exceeded when trying to connect/.test(String((err as { message?: unknown }).message));

/** Every request of the app runs with its own count of appends. */
export function trackRequestWrites(app: FastifyInstance): void {
  app.addHook('onRequest', (_request, _reply, done) => requests.run({ writes: 0 }, done));
}

/** Has the current request appended, or tried to in a way that may have taken effect? */
export function requestWrote(): boolean {
  return (requests.getStore()?.writes ?? 0) > 0;
}

/** The store, counting in the current request (if any) each append from its start, whose outcome may be unknown. */
export function markingWrites<S extends EventStore>(store: S): S {
  const append = store.append.bind(store);
  store.append = async (...args) => {
    const request = requests.getStore();
    if (request) request.writes += 1;
    try {
      return await append(...args);
    } catch (err) {
      if (request && neverConnected(err)) request.writes -= 1;
      throw err;
    }
  };
  return store;
}
