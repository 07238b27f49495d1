import type { Document } from './ports/readStore.ts';
import type { StoredEvent } from './ports/eventStore.ts';

/**
 * JSON texts known for objects, by identity: an object parsed from a text serialises back to that text. A store
 * that writes documents as JSON splices such a part in as it is instead of serialising it again: a zone's
 * coordinates are most of a million zones' serialisation (each number turned back into digits). Only an object
 * nobody changes once registered may be: a copy is not registered, and a changed one would be written as it was.
 */
const texts = new WeakMap<object, string>();
/**
 * Texts registered and not yet written: while none is, a document is serialised without a look at its values (the
 * usual case; a text registered for a document never written keeps the look on, which costs time, not correctness).
 */
let unwritten = 0;
/** Events' data as their adapter read it (not upcast): the text the data was parsed from. */
const dataTexts = new WeakMap<StoredEvent, string>();

export function rememberJsonText(value: object, text: string): void {
  if (!texts.has(value)) unwritten++;
  texts.set(value, text);
}

/** Says that the event's data was parsed from this text (an adapter reading stored events). */
export function rememberDataText(event: StoredEvent, text: string): void {
  dataTexts.set(event, text);
}

/** The text the event's data was parsed from, where its adapter said so. */
export function dataTextOf(event: StoredEvent): string | undefined {
  return dataTexts.get(event);
}

/** The registered text of a value (taken: it serves this write only), else undefined. */
function take(value: object): string | undefined {
  const text = texts.get(value);
  if (text === undefined) return undefined;
  texts.delete(value);
  unwritten--;
  return text;
}

/**
 * The document as JSON, with the known texts of its top-level values spliced in (those keys last). A text serves
 * one write: the next write of the same object (changed since, perhaps) serialises it unless it is registered again.
 */
export function documentJson(doc: Document): string {
  if (unwritten === 0) return JSON.stringify(doc);
  let rest: Record<string, unknown> | undefined;
  let spliced = '';
  for (const key in doc) {
    const value = doc[key];
    if (value === null || typeof value !== 'object') continue;
    const text = take(value);
    if (text === undefined) continue;
    rest ??= { ...doc };
    // Left out by JSON.stringify, as a property that is not there.
    rest[key] = undefined;
    spliced += `,${JSON.stringify(key)}:${text}`;
  }
  if (!rest) return JSON.stringify(doc);
  const head = JSON.stringify(rest);
  return head === '{}' ? `{${spliced.slice(1)}}` : `${head.slice(0, -1)}${spliced}}`;
}

/**
 * The texts of the items of each array that is a value of a JSON object's top level (`{"zones":[{…},{…}]}`: zones →
 * the text of each zone), in one pass that follows only strings and brackets; null when the text is not such an
 * object, or when a top-level key is spelt with escapes or appears twice (JSON.parse keeps the last of the same name,
 * spelt either way: the items found might not be the data's). Callers check the counts too.
 */
export function topLevelArrayItems(text: string): Map<string, string[]> | null {
  const arrays = new Map<string, string[]>();
  const keys = new Set<string>();
  let depth = 0;
  let key: string | null = null;
  /** At depth 1, the next string is a key. */
  let expectKey = false;
  let items: string[] | null = null;
  let itemStart = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let end = i + 1;
      for (;;) {
        end = text.indexOf('"', end);
        if (end < 0) return null;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
        end++;
      }
      if (depth === 1 && expectKey) {
        key = text.slice(i + 1, end);
        if (key.includes('\\') || keys.has(key)) return null;
        keys.add(key);
        expectKey = false;
      }
      i = end;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth === 1) {
        if (c !== 0x7b) return null;
        expectKey = true;
      } else if (depth === 2 && c === 0x5b && key !== null) {
        items = [];
        arrays.set(key, items);
        itemStart = i + 1;
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 1 && items) {
        const last = text.slice(itemStart, i).trim();
        if (last) items.push(last);
        items = null;
      }
      if (depth === 0) return arrays;
    } else if (c === 0x2c) {
      if (depth === 1) {
        expectKey = true;
        key = null;
      } else if (depth === 2 && items) {
        items.push(text.slice(itemStart, i).trim());
        itemStart = i + 1;
      }
    }
  }
  return null;
}
