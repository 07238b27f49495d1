import type { Checkpoint } from '../ports/eventStore.ts';
import type { Document, ReadStoreTx } from '../ports/readStore.ts';

export interface TouchedDocument {
  collection: string;
  id: string;
  /** null: deleted. */
  doc: Document | null;
}

/**
 * A read-model transaction's writes, kept until its commit: documents touched are read back from here, and each is
 * written once (a batch that updates one counter a thousand times costs one write). The adapter writes `touched`
 * (in the order first touched) and `checkpoints` in one transaction of its own.
 */
export function bufferedTx(read: <T extends Document>(collection: string, id: string) => Promise<T | null>, prepare: (collection: string) => void | Promise<void>) {
  // Looked up per collection, then per id: a replay calls get and put once per event, and a key made of both
  // would be a new string each time.
  const byCollection = new Map<string, Map<string, TouchedDocument>>();
  const touched: TouchedDocument[] = [];
  const checkpoints = new Map<string, { position: Checkpoint; fence: number | null }>();
  const prepared = new Set<string>();
  const write = (collection: string, id: string, doc: Document | null): void => {
    let docs = byCollection.get(collection);
    if (!docs) byCollection.set(collection, (docs = new Map()));
    const entry = docs.get(id);
    if (entry) entry.doc = doc;
    else {
      const added = { collection, id, doc };
      docs.set(id, added);
      touched.push(added);
    }
  };
  const writeWhenPrepared = (collection: string, id: string, doc: Document | null): Promise<void> => {
    if (prepared.has(collection)) return (write(collection, id, doc), Promise.resolve());
    return Promise.resolve(prepare(collection)).then(() => {
      prepared.add(collection);
      write(collection, id, doc);
    });
  };
  const tx: ReadStoreTx = {
    get: <T extends Document>(collection: string, id: string) => {
      const hit = byCollection.get(collection)?.get(id);
      return hit ? Promise.resolve(hit.doc as T | null) : read<T>(collection, id);
    },
    // The document is serialised at commit: a caller must not change it after put unless it puts it again.
    put: (collection, doc) => writeWhenPrepared(collection, doc.id, doc),
    delete: (collection, id) => writeWhenPrepared(collection, id, null),
    saveCheckpoint: async (name, position, fence) => {
      checkpoints.set(name, { position, fence: fence ?? null });
    },
  };
  return { tx, touched, checkpoints };
}
