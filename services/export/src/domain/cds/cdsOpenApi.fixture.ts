import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * The official CDS 1.1 OpenAPI (Open Mobility Foundation, CC BY 4.0; vendored from the spec's openapi/main in
 * testdata/cds/openapi-1.1), with its cross-file $refs resolved, as ajv validators of whole responses.
 *
 * One substitution, for a defect of the official files (see docs/architecture/cds.md): coordinates.yaml gives a
 * Polygon's coordinates as a flat list of positions, against RFC 7946 and the spec's own examples, so
 * geoJSON_polygon.yaml and geoJSON_linestring.yaml are replaced by RFC 7946 schemas. Everything else is
 * validated as published.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../testdata/cds/openapi-1.1');
export const CDS_EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../testdata/cds/examples');

const position = { type: 'array', minItems: 2, maxItems: 3, items: { type: 'number' } };
const rfc7946: Record<string, unknown> = {
  'geoJSON_polygon.yaml': { type: 'object', required: ['type', 'coordinates'], properties: { type: { const: 'Polygon' }, coordinates: { type: 'array', minItems: 1, items: { type: 'array', minItems: 4, items: position } } } },
  'geoJSON_linestring.yaml': { type: 'object', required: ['type', 'coordinates'], properties: { type: { const: 'LineString' }, coordinates: { type: 'array', minItems: 2, items: position } } },
};

const files = new Map<string, unknown>();
function load(path: string): unknown {
  let doc = files.get(path);
  if (doc === undefined) {
    doc = parse(readFileSync(path, 'utf8'));
    files.set(path, doc);
  }
  return doc;
}

function pointer(doc: unknown, fragment: string): unknown {
  let at = doc;
  for (const part of fragment.split('/').filter(Boolean)) at = (at as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return at;
}

/** Inlines every $ref (relative files and #fragments) and drops OpenAPI-only keywords ajv does not know. */
function resolveRefs(node: unknown, file: string, depth = 0, official = false): unknown {
  if (depth > 60) throw new Error('CDS schema $refs nest too deep');
  if (Array.isArray(node)) return node.map((n) => resolveRefs(n, file, depth + 1, official));
  if (!node || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  if (typeof obj['$ref'] === 'string') {
    const [target, fragment] = (obj['$ref'] as string).split('#') as [string, string | undefined];
    const targetFile = target ? join(dirname(file), target) : file;
    const name = targetFile.split('/').pop()!;
    if (rfc7946[name] && !official) return rfc7946[name];
    const resolved = fragment ? pointer(load(targetFile), fragment) : load(targetFile);
    return resolveRefs(resolved, targetFile, depth + 1, official);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key.startsWith('x-') || key === 'example' || key === 'examples') continue;
    out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([p, s]) => [p, resolveRefs(s, file, depth + 1, official)])) : resolveRefs(value, file, depth + 1, official);
  }
  return out;
}

const addFormats = ((addFormatsModule as unknown as { default?: (a: Ajv) => Ajv }).default ?? addFormatsModule) as unknown as (a: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false, validateFormats: true }));
// CDS uses format: url (not a JSON Schema format).
ajv.addFormat('url', { type: 'string', validate: (s: string) => URL.canParse(s) });

const validators = new Map<string, ValidateFunction>();

/** The validator of an endpoint's 200 response in the official 1.1 OpenAPI, e.g. ('Curbs API', '/curbs/zones'). */
export function cdsResponseValidator(api: 'Curbs API' | 'Events API', path: string): ValidateFunction {
  const key = `${api} ${path}`;
  let validate = validators.get(key);
  if (!validate) {
    const file = join(ROOT, 'APIs', `${api}.yaml`);
    const op = pointer(load(file), `/paths/${path.replace(/\//g, '~1')}/get`) as { responses: Record<string, { content: Record<string, { schema: unknown }> }> };
    const content = op.responses['200']!.content;
    const schema = resolveRefs(Object.values(content)[0]!.schema, file);
    validate = ajv.compile(schema as object);
    validators.set(key, validate);
  }
  return validate;
}

/** The validator of one shared data model (e.g. 'curb_zone.yaml'); `official` leaves out the geometry substitution. */
export function cdsModelValidator(model: string, { official = false }: { official?: boolean } = {}): ValidateFunction {
  const key = `${model}${official ? ' (official)' : ''}`;
  let validate = validators.get(key);
  if (!validate) {
    const file = join(ROOT, 'Shared Data Models', model);
    validate = ajv.compile(resolveRefs(load(file), file, 0, official) as object);
    validators.set(key, validate);
  }
  return validate;
}

export const describeErrors = (v: ValidateFunction) => (v.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('; ');
