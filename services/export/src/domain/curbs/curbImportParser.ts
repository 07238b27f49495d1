import { pipeline, type Readable } from 'node:stream';
import { curbKinds, type CurbKind } from '@curbmap/contracts';
import Assembler from 'stream-json/assembler.js';
import parser from 'stream-json/parser.js';

/** One object of an import body, with where it was found (`/data/zones/17`, `/features/3`). */
export type ImportItem = { source: 'cds'; kind: CurbKind; value: unknown; path: string } | { source: 'geojson'; value: unknown; path: string };

export interface ImportHeader {
  /** CDS `version` ("1.0", "1.0.1", "1.1"), or null for GeoJSON. */
  version: string | null;
  /** GeoJSON `type`. */
  type: string | null;
}

type Token = { name: string; value?: string };
type Frame = { array: boolean; key: string | null; index: number };

const KINDS = new Set<string>(curbKinds);

/**
 * Reads a CDS Curbs payload (`data.zones[]`, `data.policies[]`, …) or a GeoJSON FeatureCollection
 * (`features[]`) from a stream, one object at a time: the body is never held whole, as text or as a tree,
 * only the objects it yields. Top-level `version` and `type` are reported in the header once the body ends.
 */
export async function* parseCurbImport(body: Readable, header: ImportHeader): AsyncGenerator<ImportItem> {
  // pipeline, not pipe: the body's error (a client gone, a 413, a forwarded frame refused) ends the loop below.
  const tokens = pipeline(body, parser.asStream({ packValues: true, streamValues: false }), () => undefined);
  const stack: Frame[] = [];
  let capture: { asm: Assembler; item: { source: 'cds'; kind: CurbKind; path: string } | { source: 'geojson'; path: string } } | null = null;
  for await (const token of tokens as AsyncIterable<Token>) {
    if (capture) {
      capture.asm.consume(token as never);
      if (capture.asm.done) {
        yield { ...capture.item, value: capture.asm.current } as ImportItem;
        capture = null;
      }
      continue;
    }
    const top = stack[stack.length - 1];
    if (token.name === 'keyValue') {
      if (top) top.key = token.value ?? null;
      continue;
    }
    if (token.name === 'endObject' || token.name === 'endArray') {
      stack.pop();
      continue;
    }
    // A value starts (object, array or scalar): where is it?
    if (top?.array) top.index += 1;
    const path = stack.map((f) => (f.array ? f.index : f.key));
    if (token.name === 'startObject' && isItemPath(path)) {
      const asm = new Assembler();
      asm.consume(token as never);
      const at = `/${path.join('/')}`;
      capture = { asm, item: path[0] === 'features' ? { source: 'geojson', path: at } : { source: 'cds', kind: path[1] as CurbKind, path: at } };
      continue;
    }
    if (token.name === 'startObject' || token.name === 'startArray') {
      stack.push({ array: token.name === 'startArray', key: null, index: -1 });
      continue;
    }
    if (path.length === 1 && token.name === 'stringValue') {
      if (path[0] === 'version') header.version = token.value ?? null;
      if (path[0] === 'type') header.type = token.value ?? null;
    }
  }
}

function isItemPath(path: (string | number | null)[]): boolean {
  if (path.length === 2) return path[0] === 'features' && typeof path[1] === 'number';
  return path.length === 3 && path[0] === 'data' && KINDS.has(path[1] as string) && typeof path[2] === 'number';
}
