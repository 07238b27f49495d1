import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { NewEvent } from './envelope.ts';

// ajv-formats is CommonJS; its default export arrives wrapped under Node's ESM loader.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as AddFormats;

export type JsonSchema = Record<string, unknown>;

export interface EventContract {
  type: string;
  /** Current schema version; writers always write it. */
  schemaVersion: number;
  schema: JsonSchema;
  /** upcasters[v] turns data written at version v into version v + 1. */
  upcasters?: Record<number, (data: unknown) => unknown>;
}

export class EventValidationError extends Error {
  readonly type: string;
  readonly errors: ErrorObject[];
  constructor(type: string, errors: ErrorObject[]) {
    super(`event ${type} does not match its schema: ${errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}`);
    this.name = 'EventValidationError';
    this.type = type;
    this.errors = errors;
  }
}

const currencies = new Set(Intl.supportedValuesOf('currency'));
const zoneCache = new Map<string, boolean>();

/**
 * An IANA zone name that Intl accepts. Intl.supportedValuesOf lists canonical names only (Asia/Calcutta, not
 * Asia/Kolkata; no Etc/GMT+12), so ask the formatter itself; offsets such as "+05:30" are not zone names.
 */
export function isIanaTimeZone(zone: string): boolean {
  let known = zoneCache.get(zone);
  if (known === undefined) {
    known = /^[A-Za-z][A-Za-z0-9_+\-]*(\/[A-Za-z0-9_+\-]+)*$/.test(zone) && zone.length <= 64;
    if (known) {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: zone });
      } catch {
        known = false;
      }
    }
    if (zoneCache.size < 10_000) zoneCache.set(zone, known);
  }
  return known;
}

/** ISO 4217, in either case (stored upper-case by whoever accepts it). */
export const isCurrencyCode = (code: string) => /^[A-Za-z]{3}$/.test(code) && currencies.has(code.toUpperCase());

const daysInMonth = (year: number, month: number) => (month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31);

/** Instants we accept: 1970 up to (not including) 2200. */
export const INSTANT_RANGE = { min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) } as const;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * RFC 3339 that JavaScript can represent: a leap second (23:59:60) or 30 February is refused here rather than
 * becoming an Invalid Date later, and so is an instant outside INSTANT_RANGE.
 */
export function isInstant(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  // Every instant of every usage item is checked here (twice): no arrays or dates made on the way.
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return false;
  const t = Date.parse(value);
  return Number.isFinite(t) && t >= INSTANT_RANGE.min && t < INSTANT_RANGE.max;
}

/** Formats of our own, shared by event schemas and the gateway's request validation (date-time is replaced). */
export function addCurbmapFormats<A extends Pick<Ajv, 'addFormat'>>(ajv: A): A {
  ajv.addFormat('iana-time-zone', { type: 'string', validate: isIanaTimeZone });
  ajv.addFormat('iso-4217', { type: 'string', validate: isCurrencyCode });
  ajv.addFormat('date-time', { type: 'string', validate: isInstant });
  return ajv;
}

/**
 * The gateway's request validators: bodies are never coerced (`{"atPeriodEnd": null}` is not `false`, `"1e1"`
 * is not 10); querystrings and path parameters arrive as strings and are.
 */
export function createRequestAjv(part: 'body' | 'other'): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, removeAdditional: false, coerceTypes: part === 'body' ? false : 'array' });
  addFormats(ajv);
  addCurbmapFormats(ajv);
  return ajv;
}

export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults: false });
  addFormats(ajv);
  addCurbmapFormats(ajv);
  return ajv;
}

/** Schemas of every event type: validation on append, upcasting on read. */
export class EventRegistry {
  private readonly contracts = new Map<string, EventContract & { validate: ValidateFunction }>();
  private readonly ajv = createAjv();

  register(...contracts: EventContract[]): this {
    for (const contract of contracts) {
      if (this.contracts.has(contract.type)) throw new Error(`event type ${contract.type} registered twice`);
      for (let v = 1; v < contract.schemaVersion; v++) {
        if (!contract.upcasters?.[v]) throw new Error(`event type ${contract.type} lacks an upcaster from version ${v}`);
      }
      this.contracts.set(contract.type, { ...contract, validate: this.ajv.compile(contract.schema) });
    }
    return this;
  }

  currentVersion(type: string): number {
    return this.get(type).schemaVersion;
  }

  /** Throws EventValidationError unless the event's data matches its current schema. */
  validate(event: Pick<NewEvent, 'type' | 'data'>): void {
    const contract = this.get(event.type);
    if (!contract.validate(event.data)) throw new EventValidationError(event.type, contract.validate.errors ?? []);
  }

  /**
   * Checks an event about to be stored and says how readers will get it: at the current version. Data given at
   * an older version (a log copied from an older release) is upcast first, so it is checked as it will be read.
   */
  forAppend(event: Pick<NewEvent, 'type' | 'data' | 'schemaVersion'>): { schemaVersion: number; data: unknown } {
    const current = this.currentVersion(event.type);
    const readable = event.schemaVersion !== undefined && event.schemaVersion < current ? this.upcast({ type: event.type, schemaVersion: event.schemaVersion, data: event.data }) : { schemaVersion: current, data: event.data };
    this.validate({ type: event.type, data: readable.data });
    return readable;
  }

  /** Brings data written at an older schema version to the current one, leaving the stored event untouched. */
  upcast<E extends { type: string; schemaVersion: number; data: unknown }>(event: E): E {
    const contract = this.contracts.get(event.type);
    if (!contract || event.schemaVersion >= contract.schemaVersion) return event;
    // An envelope read without its data (ReadAllOptions.envelopeOnly): what the upcast event's envelope would be.
    if (event.data === undefined) return { ...event, schemaVersion: contract.schemaVersion };
    let data: unknown = event.data;
    for (let v = event.schemaVersion; v < contract.schemaVersion; v++) data = contract.upcasters![v]!(data);
    return { ...event, schemaVersion: contract.schemaVersion, data };
  }

  private get(type: string) {
    const contract = this.contracts.get(type);
    if (!contract) throw new EventValidationError(type, [{ instancePath: '', schemaPath: '', keyword: 'type', params: {}, message: 'is not a registered event type' }]);
    return contract;
  }
}
