import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactStore } from '@curbmap/service-kit';

export interface ArtifactStoreFixture {
  artifacts: ArtifactStore;
  /** The same storage as another process (another machine) sees it. */
  other(): Promise<ArtifactStore>;
  close(): Promise<void>;
}

function write(stream: NodeJS.WritableStream, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(data, (err) => (err ? reject(err) : resolve())));
}

/** The behaviour every ArtifactStore adapter must show. */
export function artifactStoreContract(adapter: string, create: () => Promise<ArtifactStoreFixture>): void {
  describe(`ArtifactStore contract: ${adapter}`, () => {
    let fixture: ArtifactStoreFixture;
    let store: ArtifactStore;
    let prefix: string;
    beforeEach(async () => {
      fixture = await create();
      store = fixture.artifacts;
      prefix = `exports/${randomUUID()}`;
    });
    afterEach(() => fixture.close());

    it('shows an artifact whole once committed, to another process too, and never before', async () => {
      const key = `${prefix}/zones.csv`;
      const writer = store.create(key);
      await write(writer.stream, Buffer.from('id,name\r\n'));
      expect(await store.open(key)).toBeNull();
      await write(writer.stream, Buffer.from('z1,Main St\r\n'));
      await writer.commit();
      const opened = await (await fixture.other()).open(key);
      expect(opened?.bytes).toBe(21);
      expect((await buffer(opened!.stream)).toString()).toBe('id,name\r\nz1,Main St\r\n');
    });

    it('leaves nothing when a writer aborts, and replaces an artifact written again', async () => {
      const key = `${prefix}/invoice.pdf`;
      const aborted = store.create(key);
      await write(aborted.stream, Buffer.from('half a PDF'));
      await aborted.abort();
      expect(await store.open(key)).toBeNull();
      for (const text of ['first', 'second, longer']) {
        const writer = store.create(key);
        writer.stream.end(Buffer.from(text));
        await writer.commit();
      }
      expect((await buffer((await store.open(key))!.stream)).toString()).toBe('second, longer');
    });

    it('shows nothing before commit even when the producer has ended its stream (a pipeline ends it by itself), nothing after an abort then, and the whole artifact after a commit then', async () => {
      const key = `${prefix}/ended.csv`;
      // Ended at once (an invoice PDF is written in one piece), before the store may even be ready, then committed.
      const first = store.create(`${prefix}/at-once.pdf`);
      first.stream.end(Buffer.from('%PDF-1.7 whole'));
      await first.commit();
      expect((await buffer((await store.open(`${prefix}/at-once.pdf`))!.stream)).toString()).toBe('%PDF-1.7 whole');
      const writer = store.create(key);
      await new Promise<void>((resolve) => writer.stream.end(Buffer.from('id\r\nz1\r\n'), () => resolve()));
      // Never there while it is not committed (an upload that started at the end would be within a second or two).
      for (let i = 0; i < 10; i++) {
        expect(await store.open(key)).toBeNull();
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await writer.abort();
      expect(await store.open(key)).toBeNull();
    });

    it('streams a large artifact (several upload parts) and reads back the same bytes', async () => {
      const key = `${prefix}/large.json`;
      const writer = store.create(key);
      const hash = createHash('sha256');
      let bytes = 0;
      // 20 MiB in 1 MiB chunks, written as an export writes: with backpressure.
      for (let i = 0; i < 20; i++) {
        const chunk = randomBytes(1024 * 1024);
        hash.update(chunk);
        bytes += chunk.length;
        await write(writer.stream, chunk);
      }
      await writer.commit();
      const opened = (await store.open(key))!;
      expect(opened.bytes).toBe(bytes);
      const read = createHash('sha256');
      for await (const chunk of opened.stream) read.update(chunk as Buffer);
      expect(read.digest('hex')).toBe(hash.digest('hex'));
    }, 60_000);

    it('deletes an artifact (deleting a missing one is no error) and refuses keys that could leave its place', async () => {
      const key = `${prefix}/gone.csv`;
      const writer = store.create(key);
      writer.stream.end(Buffer.from('x'));
      await writer.commit();
      await store.delete(key);
      expect(await store.open(key)).toBeNull();
      await store.delete(key);
      for (const bad of ['../escape', '/absolute', 'a/../../b', 'a//b', '', `${prefix}/x.partial`]) {
        expect(() => store.create(bad), bad).toThrow('invalid artifact key');
        await expect(store.open(bad), bad).rejects.toThrow('invalid artifact key');
      }
    });
  });
}
