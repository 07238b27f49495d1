import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Bulk work (JSON parsed, say, in characters) between two full collections, whoever does it in the process. */
const GARBAGE_EVERY = 8 * 1024 * 1024;

let gc: (() => void) | undefined;
let since = 0;

/**
 * A full collection now. V8 lets the old generation grow to twice what survived its last full collection, and a
 * bulk pass that allocates fast (an import's objects, each chunk's JSON, the request's buffers) met that collection
 * late: an import of 100,000 zones reached 260 to 340 MB. Collected every few megabytes of such work, the heap stays
 * near what is live, for a pause of 10 to 30 ms each. `gc` is exposed once, in a context of its own.
 */
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  since = 0;
  gc();
}

/**
 * Counts bulk work; every GARBAGE_EVERY of it, a full collection. The count is the process's, not the caller's:
 * three imports at once collect as often as one doing as much work, and the pauses stay proportional to the work.
 */
export function countGarbage(amount: number): void {
  since += amount;
  if (since >= GARBAGE_EVERY) collectGarbage();
}

/** A phase of bulk work ended (its garbage is dead): a collection, unless one came a quarter of the way ago or less. */
export function bulkPhaseEnded(): void {
  if (since >= GARBAGE_EVERY / 4) collectGarbage();
}
