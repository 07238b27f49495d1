import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * A full collection now. V8 lets the old generation grow to twice what survived its last full collection, and a
 * bulk pass that allocates fast (an import's objects, each chunk's JSON, the request's buffers) met that collection
 * late: an import of 100,000 zones reached 260 to 340 MB. Collected every few megabytes of such work, the heap stays
 * near what is live, for a pause of some 20 ms each. `gc` is exposed once, in a context of its own.
 */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

/** Calls collectGarbage each time the work counted since the last call reaches `every` (bytes, say). */
export function garbageEvery(every: number): (amount: number) => void {
  let since = 0;
  return (amount) => {
    since += amount;
    if (since < every) return;
    since = 0;
    collectGarbage();
  };
}
