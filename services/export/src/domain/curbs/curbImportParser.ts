import type { Readable } from 'node:stream';
import { curbKinds, type CurbKind } from '@curbmap/contracts';

/** One object of an import body, with where it was found (`/data/zones/17`, `/features/3`) and its JSON text as sent. */
export type ImportItem = ({ source: 'cds'; kind: CurbKind; path: string } | { source: 'geojson'; path: string }) & { value: unknown; text: string };

export interface ImportHeader {
  /** CDS `version` ("1.0", "1.0.1", "1.1"), or null for GeoJSON. */
  version: string | null;
  /** GeoJSON `type`. */
  type: string | null;
}

const KINDS = new Set<string>(curbKinds);

/** Limits a body's shape must keep (a larger one is refused, not parsed): nothing a CDS payload comes near. */
export const IMPORT_LIMITS = {
  /** Containers around the objects (`{"data":{"zones":[` is three). */
  outerDepth: 16,
  /** A key or a value outside the objects (a version, a name). */
  outerTokenBytes: 64 * 1024,
  /** Nesting inside one object. */
  objectDepth: 64,
  /** One object's JSON text. */
  objectBytes: 8 * 1024 * 1024,
};

/** The body's shape is past a limit (IMPORT_LIMITS); it is valid JSON or not, it is not read further. */
export class ImportLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImportLimitError';
  }
}

/**
 * Reads a CDS Curbs payload (`data.zones[]`, `data.policies[]`, …) or a GeoJSON FeatureCollection
 * (`features[]`) from a stream, one object at a time: the body is never held whole, as text or as a tree,
 * only the objects it yields. Top-level `version` and `type` are reported in the header once the body ends.
 * A body that is not JSON fails with a SyntaxError; one past IMPORT_LIMITS with an ImportLimitError.
 */
export async function* parseCurbImport(body: Readable, header: ImportHeader): AsyncGenerator<ImportItem> {
  const scanner = new ImportScanner(header);
  // The body's error (a client gone, a 413, a forwarded frame refused) ends this loop.
  for await (const chunk of body as AsyncIterable<Buffer | string>) yield* scanner.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  yield* scanner.end();
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

/** A container around the items: what it expects next, and where it is (key or index). */
interface Frame {
  array: boolean;
  key: string | null;
  index: number;
  /** first: a key (object) or value (array), or the close; key / value: after a comma; colon; next: a comma or the close. */
  state: 'first' | 'key' | 'colon' | 'value' | 'next';
}

/** An item being read: its bytes so far, and where the scan stands inside it. */
interface Capture {
  parts: Buffer[];
  bytes: number;
  depth: number;
  inString: boolean;
  escaped: boolean;
  item: { source: 'cds'; kind: CurbKind; path: string } | { source: 'geojson'; path: string };
}

/**
 * Structure is followed byte by byte: the few containers around the items token by token (checked as JSON), and
 * each item only for where it ends, its text then handed to JSON.parse (native, and no object per token; a
 * tokenising parser spent most of an import of 100,000 zones on its tokens).
 */
export class ImportScanner {
  private readonly stack: Frame[] = [];
  private readonly header: ImportHeader;
  private capture: Capture | null = null;
  /** The start of a token cut by the end of a chunk (the containers' keys and values only). */
  private rest: Buffer | null = null;
  private done = false;

  constructor(header: ImportHeader) {
    this.header = header;
  }

  push(chunk: Buffer): ImportItem[] {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    return this.scan(buf, false);
  }

  end(): ImportItem[] {
    const rest = this.rest;
    this.rest = null;
    const items = rest ? this.scan(rest, true) : [];
    if (this.capture || this.rest || !this.done) throw new SyntaxError('unexpected end of the body');
    return items;
  }

  private scan(buf: Buffer, final: boolean): ImportItem[] {
    const items: ImportItem[] = [];
    let i = 0;
    while (i < buf.length) {
      if (this.capture) {
        i = this.scanItem(buf, i, items);
        continue;
      }
      const c = buf[i]!;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        i += 1;
        continue;
      }
      if (this.done) throw new SyntaxError(`unexpected ${describe(c)} after the end of the body`);
      const top = this.stack[this.stack.length - 1];
      if (top && !top.array && (top.state === 'first' || top.state === 'key')) {
        if (c === CLOSE_OBJECT && top.state === 'first') {
          i = this.close(i);
          continue;
        }
        if (c !== QUOTE) throw new SyntaxError(`expected a key, found ${describe(c)}`);
        const end = stringEnd(buf, i);
        if (end < 0) break;
        outerToken(i, end);
        top.key = JSON.parse(buf.toString('utf8', i, end)) as string;
        top.state = 'colon';
        i = end;
        continue;
      }
      if (top?.state === 'colon') {
        if (c !== COLON) throw new SyntaxError(`expected ':' after the key ${JSON.stringify(top.key)}, found ${describe(c)}`);
        top.state = 'value';
        i += 1;
        continue;
      }
      if (top?.state === 'next') {
        if (c === COMMA) {
          top.state = top.array ? 'value' : 'key';
          i += 1;
        } else if (c === (top.array ? CLOSE_ARRAY : CLOSE_OBJECT)) i = this.close(i);
        else throw new SyntaxError(`expected ',' or '${top.array ? ']' : '}'}', found ${describe(c)}`);
        continue;
      }
      // A value starts here.
      if (top?.array && top.state === 'first' && c === CLOSE_ARRAY) {
        i = this.close(i);
        continue;
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (top?.array) top.index += 1;
        // Objects sit two or three containers deep: the path is built only there.
        const path = c === OPEN_OBJECT && (this.stack.length === 2 || this.stack.length === 3) ? this.stack.map((f) => (f.array ? f.index : f.key)) : null;
        if (path && isItemPath(path)) {
          const at = `/${path.join('/')}`;
          this.capture = { parts: [], bytes: 0, depth: 0, inString: false, escaped: false, item: path[0] === 'features' ? { source: 'geojson', path: at } : { source: 'cds', kind: path[1] as CurbKind, path: at } };
          continue;
        }
        if (this.stack.length >= IMPORT_LIMITS.outerDepth) throw new ImportLimitError(`the body nests more than ${IMPORT_LIMITS.outerDepth} containers around its objects`);
        this.stack.push({ array: c === OPEN_ARRAY, key: null, index: -1, state: 'first' });
        i += 1;
        continue;
      }
      const end = c === QUOTE ? stringEnd(buf, i) : scalarEnd(buf, i, final);
      if (end < 0) break;
      outerToken(i, end);
      const value = JSON.parse(buf.toString('utf8', i, end)) as unknown;
      if (top?.array) top.index += 1;
      if (this.stack.length === 1 && !top!.array && typeof value === 'string') {
        if (top!.key === 'version') this.header.version = value;
        if (top!.key === 'type') this.header.type = value;
      }
      this.valueDone();
      i = end;
    }
    if (i < buf.length) {
      // A token cut by the chunk's end is read again whole with the next chunk: bounded, so that costs little.
      outerToken(i, buf.length);
      this.rest = buf.subarray(i);
    }
    return items;
  }

  /** Follows an item to its end; yields it once whole. Returns where the scan goes on. */
  private scanItem(buf: Buffer, from: number, items: ImportItem[]): number {
    const capture = this.capture!;
    let { depth, inString, escaped } = capture;
    for (let j = from; j < buf.length; j++) {
      const c = buf[j]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
      } else if (c === QUOTE) inString = true;
      else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (++depth > IMPORT_LIMITS.objectDepth) throw new ImportLimitError(`${capture.item.path} nests deeper than ${IMPORT_LIMITS.objectDepth} levels`);
      } else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && --depth === 0) {
        objectSize(capture, capture.bytes + j + 1 - from);
        const tail = buf.subarray(from, j + 1);
        const text = capture.parts.length === 0 ? tail.toString('utf8') : Buffer.concat([...capture.parts, tail]).toString('utf8');
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (err) {
          throw new SyntaxError(`${(err as Error).message} (in ${capture.item.path})`);
        }
        items.push({ ...capture.item, value, text });
        this.capture = null;
        this.valueDone();
        return j + 1;
      }
    }
    capture.parts.push(buf.subarray(from));
    capture.bytes += buf.length - from;
    objectSize(capture, capture.bytes);
    Object.assign(capture, { depth, inString, escaped });
    return buf.length;
  }

  private close(i: number): number {
    this.stack.pop();
    this.valueDone();
    return i + 1;
  }

  private valueDone(): void {
    const top = this.stack[this.stack.length - 1];
    if (top) top.state = 'next';
    else this.done = true;
  }
}

/** A key or value outside the objects spans start…end: refused past its limit. */
function outerToken(start: number, end: number): void {
  if (end - start > IMPORT_LIMITS.outerTokenBytes) throw new ImportLimitError(`a key or value outside the curb objects is longer than ${IMPORT_LIMITS.outerTokenBytes / 1024} KB`);
}

/** An object read so far (bytes): refused past its limit. */
function objectSize(capture: Capture, bytes: number): void {
  if (bytes > IMPORT_LIMITS.objectBytes) throw new ImportLimitError(`${capture.item.path} is larger than ${IMPORT_LIMITS.objectBytes / 1024 / 1024} MB`);
}

/** The end (exclusive) of the string starting at i, or -1 when the chunk ends first. */
function stringEnd(buf: Buffer, i: number): number {
  for (let j = i + 1; j < buf.length; j++) {
    const c = buf[j]!;
    if (c === BACKSLASH) j += 1;
    else if (c === QUOTE) return j + 1;
  }
  return -1;
}

/** The end of a number or literal starting at i; -1 when the chunk ends first and more may follow. */
function scalarEnd(buf: Buffer, i: number, final: boolean): number {
  let j = i;
  while (j < buf.length && isScalarByte(buf[j]!)) j += 1;
  if (j === i) throw new SyntaxError(`unexpected ${describe(buf[i]!)}`);
  return j === buf.length && !final ? -1 : j;
}

/** A byte of a number or literal (digits, letters, sign, point): JSON.parse then decides whether it is one. */
function isScalarByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2b || c === 0x2d || c === 0x2e;
}

function describe(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16)}`;
}

function isItemPath(path: (string | number | null)[]): boolean {
  if (path.length === 2) return path[0] === 'features' && typeof path[1] === 'number';
  return path.length === 3 && path[0] === 'data' && KINDS.has(path[1] as string) && typeof path[2] === 'number';
}
