import type { Checkpoint } from '../ports/eventStore.ts';
import type { Document, ReadStoreTx } from '../ports/readStore.ts';

/**
 * A read-model transaction's writes, kept until its commit: documents touched are read back from here, and each is
 * written once (a batch that updates one counter a thousand times costs one write). The adapter writes `touched`
 * and `checkpoints` in one transaction of its own.
 */
export function bufferedTx(read: <T extends Document>(collection: string, id: string) => Promise<T | null>, prepare: (collection: string) => void | Promise<void>) {
  const touched = new Map<string, { collection: string; id: string; doc: Document | null }>();
  const checkpoints = new Map<string, { position: Checkpoint; fence: number | null }>();
  const keyOf = (collection: string, id: string) => `${collection}\u0000${id}`;
  const tx: ReadStoreTx = {
    get: async <T extends Document>(collection: string, id: string) => {
      const hit = touched.get(keyOf(collection, id));
      return hit ? (hit.doc as T | null) : read<T>(collection, id);
    },
    put: async (collection, doc) => {
      await prepare(collection);
      // The document is serialised at commit: a caller must not change it after put unless it puts it again.
      touched.set(keyOf(collection, doc.id), { collection, id: doc.id, doc });
    },
    delete: async (collection, id) => {
      await prepare(collection);
      touched.set(keyOf(collection, id), { collection, id, doc: null });
    },
    saveCheckpoint: async (name, position, fence) => {
      checkpoints.set(name, { position, fence: fence ?? null });
    },
  };
  return { tx, touched, checkpoints };
}
