import { describe, expect, it } from 'vitest';
import { closeInOrder } from './closing.ts';

describe('closing in order', () => {
  it('runs every step after one that fails, then fails with that failure', async () => {
    const ran: string[] = [];
    const refused = new Error('the broker refused the disconnect');
    const closing = closeInOrder([
      () => ran.push('subscriptions'),
      async () => {
        ran.push('relay');
        throw refused;
      },
      async () => void ran.push('event store'),
      () => ran.push('read store'),
    ]);
    await expect(closing).rejects.toBe(refused);
    expect(ran).toEqual(['subscriptions', 'relay', 'event store', 'read store']);
  });

  it('reports every failure when several steps fail, and nothing when none does', async () => {
    const error = await closeInOrder([() => Promise.reject(new Error('a')), () => undefined, () => Promise.reject(new Error('b'))]).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual(['a', 'b']);
    await expect(closeInOrder([() => undefined])).resolves.toBeUndefined();
  });
});
