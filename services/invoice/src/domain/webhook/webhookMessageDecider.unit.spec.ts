import { describe, expect, it } from 'vitest';
import { IllegalStateError, NotFoundError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { nextAttemptAfter, RETRY_DELAYS_MS, webhookMessageDecider, type RecordAttempt, type WebhookMessageEvent } from './webhookMessageDecider.ts';

const messageId = '7b1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';
const endpointId = '7b1c2a52-3b7e-4f43-9a51-0f2b8f3e7a02';
const meta = (now: string): CommandMetadata => ({ commandId: `c:${now}`, now, organizationId: '7b1c2a52-3b7e-4f43-9a51-0f2b8f3e7a03' });
const created: WebhookMessageEvent = { type: 'webhook.message.created', data: { messageId, endpointId, notificationId: '7b1c2a52-3b7e-4f43-9a51-0f2b8f3e7a04', eventType: 'invoice.issued', payload: { type: 'invoice.issued' } } };
const attempt = (n: number, now: string, status: number | null, extra: Partial<RecordAttempt['data']> = {}): RecordAttempt => ({ type: 'RecordAttempt', data: { attempt: n, status, error: status === 200 ? null : 'down', durationMs: 12, retryAfterMs: null, final: false, ...extra }, metadata: meta(now) });
const recorded = (n: number, at: string, status: number | null, nextAttemptAt: string | null, outcome: 'delivered' | 'failed' = 'failed'): WebhookMessageEvent => ({ type: 'webhook.attempt.recorded', data: { messageId, endpointId, attempt: n, attemptedAt: at, status, outcome, error: outcome === 'delivered' ? null : 'down', durationMs: 12, nextAttemptAt } });

/** Fails attempt after attempt, each as soon as it is due: the instants of the whole series. */
function failedSeries(): WebhookMessageEvent[] {
  const events: WebhookMessageEvent[] = [created];
  let at = '2027-01-01T00:00:00.000Z';
  for (let n = 1; ; n++) {
    const state = events.reduce(webhookMessageDecider.evolve, webhookMessageDecider.initialState());
    const [event] = webhookMessageDecider.decide(attempt(n, at, 503), state);
    events.push(event!);
    const next = (event as Extract<WebhookMessageEvent, { type: 'webhook.attempt.recorded' }>).data.nextAttemptAt;
    if (!next) return events;
    at = next;
  }
}

describe('webhook message decider', () => {
  const spec = deciderSpec(webhookMessageDecider);

  it('follows the Standard Webhooks schedule: 10 attempts over 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, then gives up', () => {
    const attempts = failedSeries().slice(1) as Extract<WebhookMessageEvent, { type: 'webhook.attempt.recorded' }>[];
    expect(attempts).toHaveLength(10);
    const gaps = attempts.slice(1).map((a, i) => Date.parse(a.data.attemptedAt) - Date.parse(attempts[i]!.data.attemptedAt));
    expect(gaps).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000]);
    expect(attempts.at(-1)!.data.nextAttemptAt).toBeNull();
    const state = failedSeries().reduce(webhookMessageDecider.evolve, webhookMessageDecider.initialState());
    expect(state).toMatchObject({ status: 'failed', attempts: 10 });
    expect(RETRY_DELAYS_MS[0]).toBe(0);
  });

  it('honours Retry-After: never sooner than asked, never beyond the longest step', () => {
    expect(nextAttemptAfter(1, '2027-01-01T00:00:00.000Z', 600_000)).toBe('2027-01-01T00:10:00.000Z');
    expect(nextAttemptAfter(1, '2027-01-01T00:00:00.000Z', 1_000)).toBe('2027-01-01T00:00:05.000Z');
    expect(nextAttemptAfter(1, '2027-01-01T00:00:00.000Z', 30 * 86_400_000)).toBe('2027-01-02T00:00:00.000Z');
  });

  it('records a delivery; the same attempt again changes nothing; one out of turn is refused', () => {
    spec.given([created]).when(attempt(1, '2027-01-01T00:00:00.000Z', 200)).then([recorded(1, '2027-01-01T00:00:00.000Z', 200, null, 'delivered')]);
    const delivered = recorded(1, '2027-01-01T00:00:00.000Z', 200, null, 'delivered');
    spec.given([created, delivered]).when(attempt(1, '2027-01-01T00:00:00.000Z', 200)).then([]);
    spec.given([created, delivered]).when(attempt(2, '2027-01-01T00:00:09.000Z', 200)).thenThrows(IllegalStateError, /out of turn/);
    spec.given([]).when(attempt(1, '2027-01-01T00:00:00.000Z', 200)).thenThrows(NotFoundError);
  });

  it('stops at once on a final attempt (410 Gone, endpoint disabled), whatever the schedule', () => {
    spec.given([created]).when(attempt(1, '2027-01-01T00:00:00.000Z', 410, { final: true })).then([recorded(1, '2027-01-01T00:00:00.000Z', 410, null)]);
  });

  it('a redelivery starts a new series at the schedule\'s first step; one at a time', () => {
    const failed = failedSeries();
    const redelivery: WebhookMessageEvent = { type: 'webhook.message.redelivery_requested', data: { messageId, endpointId } };
    spec.given(failed).when({ type: 'RequestRedelivery', data: {}, metadata: meta('2027-02-01T00:00:00.000Z') }).then([redelivery]);
    spec.given([...failed, redelivery]).when({ type: 'RequestRedelivery', data: {}, metadata: meta('2027-02-01T00:00:00.000Z') }).then([]);
    // Attempt 11 fails: the next is 5 s later, as the second of a series.
    spec.given([...failed, redelivery]).when(attempt(11, '2027-02-01T00:00:00.000Z', 500)).then([recorded(11, '2027-02-01T00:00:00.000Z', 500, '2027-02-01T00:00:05.000Z')]);
  });
});
