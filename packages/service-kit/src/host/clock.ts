import { readFileSync } from 'node:fs';

/**
 * The platform's clock: the machine's, or, with CURBMAP_CLOCK_FILE (simulations and tests only), the instant
 * written in that file, read at every look so that every process of an installation moves together. A file
 * that holds no instant is an error, never a silent fall back to the machine's time.
 */
export function clockOf(file: string | null): () => Date {
  if (!file) return () => new Date();
  return () => {
    const text = readFileSync(file, 'utf8').trim();
    const at = new Date(text);
    if (Number.isNaN(at.getTime())) throw new Error(`CURBMAP_CLOCK_FILE ${file} holds no instant: "${text.slice(0, 40)}"`);
    return at;
  };
}
