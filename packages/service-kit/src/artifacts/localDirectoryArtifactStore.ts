import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { ArtifactStore, ArtifactWriter } from './artifactStore.ts';
import { checkArtifactKey } from './artifactKey.ts';

/**
 * Artifacts as files under one directory. A writer writes `<key>.partial`, fsyncs it and renames it into
 * place, so a reader sees the whole file or none (a crash leaves only a .partial, which is never served).
 */
export class LocalDirectoryArtifactStore implements ArtifactStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  private path(key: string): string {
    const path = join(this.root, checkArtifactKey(key));
    if (!path.startsWith(this.root + sep)) throw new Error(`invalid artifact key ${key}`);
    return path;
  }

  create(key: string): ArtifactWriter {
    const path = this.path(key);
    const partial = `${path}.partial`;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const stream = createWriteStream(partial, { mode: 0o600 });
    const closed = new Promise<void>((res, rej) => {
      stream.once('close', res);
      stream.once('error', rej);
    });
    return {
      stream,
      async commit() {
        if (!stream.writableFinished) await new Promise<void>((res, rej) => stream.end((err?: Error | null) => (err ? rej(err) : res())));
        await closed;
        const handle = await open(partial, 'r+');
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(partial, path);
      },
      async abort() {
        stream.destroy();
        await closed.catch(() => undefined);
        await rm(partial, { force: true });
      },
    };
  }

  async open(key: string) {
    const path = this.path(key);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) return null;
    return { stream: createReadStream(path), bytes: info.size };
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}
