import type { Checkpoint, EventStore } from '../ports/eventStore.ts';
import type { ReadStore } from '../ports/readStore.ts';
import { DEAD_LETTERS, type BatchHandler, type DeadLetter } from '../ports/subscriptions.ts';

/** A newly parked dead letter (the same record whatever feeds the subscription). */
export function parkedDeadLetter(subscription: string, event: Pick<DeadLetter, 'eventId' | 'organizationId' | 'eventType' | 'streamId' | 'position'>, error: string, attempts: number, now: Date): DeadLetter {
  return { id: `${subscription}:${event.eventId}`, subscription, ...event, error, attempts, status: 'parked', parkedAt: now.toISOString(), resolvedAt: null };
}

/**
 * An operator's retry of a parked event, whatever feeds the subscription: the event read back from its stream,
 * handed to the handler alone, and the dead letter marked resolved — or, when it fails again, its attempts and
 * error updated before the error is rethrown.
 */
export async function retryDeadLetter(env: { store: EventStore; checkpoints: ReadStore; now?: () => Date }, deadLetter: DeadLetter, handle: BatchHandler, checkpoint: Checkpoint): Promise<void> {
  try {
    const event = await eventOf(env.store, deadLetter);
    // The subscription is already past the event: its checkpoint stays where it is.
    await handle([event], { checkpoint, save: async () => undefined });
    const resolvedAt = (env.now?.() ?? new Date()).toISOString();
    await env.checkpoints.transaction((tx) => tx.put(DEAD_LETTERS, { ...deadLetter, status: 'resolved', resolvedAt }));
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    await env.checkpoints.transaction((tx) => tx.put(DEAD_LETTERS, { ...deadLetter, attempts: deadLetter.attempts + 1, error }));
    throw err;
  }
}

async function eventOf(store: EventStore, deadLetter: DeadLetter) {
  for await (const event of store.readStream(deadLetter.streamId)) if (event.id === deadLetter.eventId) return event;
  throw new Error(`event ${deadLetter.eventId} is no longer in stream ${deadLetter.streamId}`);
}
