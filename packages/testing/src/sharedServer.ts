import { afterAll } from 'vitest';

/**
 * A server the tests of one spec file share (a private PostgreSQL cluster, a Kafka broker…): started when a test
 * first asks for it, stopped after the file's last test. A file whose tests never ask starts nothing.
 */
export function sharedServer<T extends { stop(): Promise<void> }>(start: () => Promise<T>): () => Promise<T> {
  let server: Promise<T> | null = null;
  afterAll(async () => {
    // One that failed to start has nothing to stop (its test reported why).
    if (server) await server.then((s) => s.stop(), () => undefined);
  }, 60_000);
  return () => (server ??= start());
}
