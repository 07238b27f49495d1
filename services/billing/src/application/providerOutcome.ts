import type { StoredEvent, StreamWrite } from '@curbmap/eventsourcing';
import { HttpError, writeOf, type ServiceContext } from '@curbmap/service-kit';

/** How long an HTTP answer waits for the provider outbox before answering 202. */
export const PROVIDER_ANSWER_WAIT_MS = 10_000;

/**
 * The outcome the provider outbox appended for a request (one of `types`, with this requestId), or null when
 * none came within the wait. Reads the stream itself: the outcome is there before any read model shows it.
 */
export async function providerOutcome(ctx: ServiceContext, streamId: string, requestId: string, types: string[], timeoutMs = PROVIDER_ANSWER_WAIT_MS): Promise<{ event: StoredEvent; write: StreamWrite } | null> {
  const deadline = Date.now() + timeoutMs;
  let fromVersion = 0;
  for (let delay = 5; ; delay = Math.min(100, delay * 2)) {
    for await (const stored of ctx.store.readStream(streamId, { fromVersion })) {
      fromVersion = stored.streamVersion + 1;
      if (types.includes(stored.type) && (stored.data as { requestId?: string }).requestId === requestId) return { event: stored, write: writeOf(stored) };
    }
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** The provider's refusal, answered as such: 402 for a card, 502 otherwise, with its message. */
export function providerRefused({ code, message }: { code: string; message: string }): HttpError {
  return new HttpError(code === 'card_declined' ? 402 : 502, 'payment_provider_error', `the payment provider refused the request: ${message}`);
}
