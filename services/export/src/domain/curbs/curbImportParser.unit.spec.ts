import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IMPORT_LIMITS, ImportLimitError, parseCurbImport, type ImportHeader, type ImportItem } from './curbImportParser.ts';

async function parse(text: string, chunkSize = 65_536): Promise<{ items: Omit<ImportItem, 'text'>[]; header: ImportHeader }> {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const header: ImportHeader = { version: null, type: null };
  const items: Omit<ImportItem, 'text'>[] = [];
  for await (const { text, ...item } of parseCurbImport(Readable.from(chunks), header)) {
    // The text is the object as sent.
    expect(JSON.parse(text)).toEqual(item.value);
    expect(text).toBe(text.trim());
    items.push(item);
  }
  return { items, header };
}

const zone = { curb_zone_id: 'a', name: 'Quote " brace } bracket ] backslash \\ and é', geometry: { type: 'Polygon', coordinates: [[[1, 2], [3, 4], [1, 2]]] }, nested: [{ x: [] }, {}], n: -1.5e3, t: true, f: null };
const cds = { version: '1.1', time_zone: 'America/Chicago', data: { policies: [{ curb_policy_id: 'p' }], zones: [zone, { curb_zone_id: 'b' }], areas: [] }, links: [{ rel: 'x' }] };

describe('the import parser', () => {
  it('yields each CDS object with its path and the top-level version, the body cut at every byte', async () => {
    const text = JSON.stringify(cds, null, 1);
    const whole = await parse(text);
    expect(whole.header).toEqual({ version: '1.1', type: null });
    expect(whole.items).toEqual([
      { source: 'cds', kind: 'policies', path: '/data/policies/0', value: { curb_policy_id: 'p' } },
      { source: 'cds', kind: 'zones', path: '/data/zones/0', value: zone },
      { source: 'cds', kind: 'zones', path: '/data/zones/1', value: { curb_zone_id: 'b' } },
    ]);
    for (const size of [1, 2, 3, 7, 64]) expect(await parse(text, size)).toEqual(whole);
  });

  it('yields GeoJSON features and the collection type; other objects and scalars are not items', async () => {
    const text = JSON.stringify({ type: 'FeatureCollection', name: 'x', features: [{ type: 'Feature', properties: { a: 1 }, geometry: null }, 5], data: { zones: 'no' }, version: 2 });
    for (const size of [1, 5, 1000]) {
      const { items, header } = await parse(text, size);
      expect(header).toEqual({ version: null, type: 'FeatureCollection' });
      expect(items).toEqual([{ source: 'geojson', path: '/features/0', value: { type: 'Feature', properties: { a: 1 }, geometry: null } }]);
    }
  });

  it.each([
    ['an unclosed body', '{"data":{"zones":[{"curb_zone_id":"a"}'],
    ['a broken item', '{"data":{"zones":[{"curb_zone_id":"a",}]}}'],
    ['a missing comma between items', '{"data":{"zones":[{"a":1} {"b":2}]}}'],
    ['a missing colon', '{"version" "1.1"}'],
    ['a key that is not a string', '{version: "1.1"}'],
    ['data after the end', '{"version":"1.1"} {}'],
    ['a bad literal', '{"version":tru}'],
    ['a raw control character in a key', '{"ver\u0001sion":"1.1"}'],
    ['an empty body', ''],
  ])('refuses %s', async (_what, text) => {
    for (const size of [1, 4, 1000]) await expect(parse(text, size)).rejects.toBeInstanceOf(SyntaxError);
  });

  it('names the item whose JSON is broken', async () => {
    await expect(parse('{"data":{"zones":[{"a":1},{"a":01}]}}')).rejects.toThrow('/data/zones/1');
  });

  it('reads a number cut by the end of a chunk whole', async () => {
    expect((await parse('{"version":12345,"type":"T"}', 13)).header).toEqual({ version: null, type: 'T' });
    expect((await parse('[1, 23456]', 5)).items).toEqual([]);
    expect((await parse('123456', 2)).items).toEqual([]);
  });

  it.each([
    ['containers nested around the objects', `${'['.repeat(IMPORT_LIMITS.outerDepth + 1)}${']'.repeat(IMPORT_LIMITS.outerDepth + 1)}`],
    ['a value outside the objects over 64 KB', `{"name":"${'x'.repeat(IMPORT_LIMITS.outerTokenBytes + 10)}","data":{}}`],
    ['a number outside the objects over 64 KB', `{"n":${'1'.repeat(IMPORT_LIMITS.outerTokenBytes + 10)}}`],
    ['an object nested deeper than 64 levels', `{"data":{"zones":[{"a":${'['.repeat(IMPORT_LIMITS.objectDepth)}${']'.repeat(IMPORT_LIMITS.objectDepth)}}]}}`],
    ['an object over 8 MB', `{"data":{"zones":[{"a":"${'x'.repeat(IMPORT_LIMITS.objectBytes)}"}]}}`],
  ])('refuses a body past its limits, without reading it whole: %s', async (_what, text) => {
    await expect(parse(text, 16 * 1024)).rejects.toBeInstanceOf(ImportLimitError);
  });

  it('reads objects up to the limits', async () => {
    const nested = `${'['.repeat(IMPORT_LIMITS.objectDepth - 1)}${']'.repeat(IMPORT_LIMITS.objectDepth - 1)}`;
    const { items } = await parse(`{"name":"${'x'.repeat(60_000)}","data":{"zones":[{"a":${nested}}]}}`, 16 * 1024);
    expect(items).toHaveLength(1);
  });
});
