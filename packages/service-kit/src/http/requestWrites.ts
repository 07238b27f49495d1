import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance } from 'fastify';
import type { EventStore } from '@curbmap/eventsourcing';

// Per request: has it tried to append? An error after that may follow a write that took effect.
const requests = new AsyncLocalStorage<{ wrote: boolean }>();

/** Every request of the app runs with its own record of whether it appended. */
export function trackRequestWrites(app: FastifyInstance): void {
  app.addHook('onRequest', (_request, _reply, done) => requests.run({ wrote: false }, done));
}

/** Did the current request try to append (whether or not the append took effect)? */
export function requestWrote(): boolean {
  return requests.getStore()?.wrote ?? false;
}

/** The store, noting in the current request (if any) that it appends: before the append, whose outcome may be unknown. */
export function markingWrites<S extends EventStore>(store: S): S {
  const append = store.append.bind(store);
  store.append = (...args) => {
    const request = requests.getStore();
    if (request) request.wrote = true;
    return append(...args);
  };
  return store;
}
