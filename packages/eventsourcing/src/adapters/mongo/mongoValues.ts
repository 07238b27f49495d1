import type { Document } from '../../ports/readStore.ts';

/** The field a value MongoDB's wire protocol servers may refuse is kept under, as JSON text. */
const AS_JSON = '__json';
const RESERVED = new Set(['_id', '_s', '_until']);

/**
 * A document as stored: what JSON keeps of it (as in the PostgreSQL adapter: no undefined, no Date objects), with
 * every value FerretDB refuses (nested arrays such as GeoJSON coordinates; keys that are empty, contain a dot or
 * start with `$`) kept as JSON text. MongoDB accepts the same form, so both servers hold identical documents.
 */
export function encodeDocument(doc: Document): Record<string, unknown> {
  const plain = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(plain)) {
    if (RESERVED.has(key) || awkwardKey(key)) throw new Error(`a read-model document cannot have a field named ${JSON.stringify(key)}`);
    out[key] = encodeValue(value);
  }
  return out;
}

function awkwardKey(key: string): boolean {
  return key === '' || key.includes('.') || key.includes('\0') || key.startsWith('$') || key === AS_JSON;
}

function encodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.some(Array.isArray) ? { [AS_JSON]: JSON.stringify(value) } : value.map(encodeValue);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.some(([k]) => awkwardKey(k))) return { [AS_JSON]: JSON.stringify(value) };
    return Object.fromEntries(entries.map(([k, v]) => [k, encodeValue(v)]));
  }
  return value;
}

/** The value as the projection wrote it. */
export function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 1 && entries[0]![0] === AS_JSON && typeof entries[0]![1] === 'string') return JSON.parse(entries[0]![1]);
    return Object.fromEntries(entries.map(([k, v]) => [k, decodeValue(v)]));
  }
  return value;
}
