/**
 * The 53-bit hashes of the ids a bulk load wrote, in an open-addressing table that grows with them: `has` answers
 * false only for an id never added, and true for one added (or one whose hash another shares: at a million ids,
 * about one chance in 18,000 over a whole load). A bulk load asks it before looking an id up in a table it alone has
 * filled since it was empty: a "no" needs no lookup, which in a table not yet indexed would be a scan.
 * About 16 bytes per id at most; a small collection's costs a few KB.
 */
export class IdFilter {
  /** The hash's high 21 bits with bit 31 set (0: an empty slot), and its low 32 bits. */
  private high = new Uint32Array(1024);
  private low = new Uint32Array(1024);
  private size = 0;

  /** Adds the id; answers whether it was there already (one hash for both). */
  add(id: string): boolean {
    const [high, low] = hash(id);
    if (this.find(high, low) >= 0) return true;
    // At most half full: a probe ends within a slot or two on average.
    if ((this.size + 1) * 2 > this.high.length) this.grow();
    this.insert(high, low);
    this.size++;
    return false;
  }

  has(id: string): boolean {
    const [high, low] = hash(id);
    return this.find(high, low) >= 0;
  }

  private find(high: number, low: number): number {
    const mask = this.high.length - 1;
    for (let i = low & mask; ; i = (i + 1) & mask) {
      const h = this.high[i]!;
      if (h === 0) return -1;
      if (h === high && this.low[i] === low) return i;
    }
  }

  private insert(high: number, low: number): void {
    const mask = this.high.length - 1;
    let i = low & mask;
    while (this.high[i] !== 0) i = (i + 1) & mask;
    this.high[i] = high;
    this.low[i] = low;
  }

  private grow(): void {
    const [high, low] = [this.high, this.low];
    this.high = new Uint32Array(high.length * 2);
    this.low = new Uint32Array(low.length * 2);
    for (let i = 0; i < high.length; i++) if (high[i] !== 0) this.insert(high[i]!, low[i]!);
  }
}

/** cyrb53 (a public-domain 53-bit string hash): its two 32-bit lanes, the high one cut to 21 bits and marked. */
function hash(id: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [((h2 & 0x1fffff) | 0x80000000) >>> 0, h1 >>> 0];
}
