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

const timeZones = new Set(Intl.supportedValuesOf('timeZone').concat('UTC', 'Etc/UTC'));
const currencies = new Set(Intl.supportedValuesOf('currency'));

/** Formats of our own, shared by event schemas and the gateway's request validation. */
export function addCurbmapFormats<A extends Pick<Ajv, 'addFormat'>>(ajv: A): A {
  ajv.addFormat('iana-time-zone', { type: 'string', validate: (tz: string) => timeZones.has(tz) });
  ajv.addFormat('iso-4217', { type: 'string', validate: (code: string) => currencies.has(code) });
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

  /** Brings data written at an older schema version to the current one, leaving the stored event untouched. */
  upcast<E extends { type: string; schemaVersion: number; data: unknown }>(event: E): E {
    const contract = this.contracts.get(event.type);
    if (!contract || event.schemaVersion >= contract.schemaVersion) return event;
    let data = event.data;
    for (let v = event.schemaVersion; v < contract.schemaVersion; v++) data = contract.upcasters![v]!(data);
    return { ...event, schemaVersion: contract.schemaVersion, data };
  }

  private get(type: string) {
    const contract = this.contracts.get(type);
    if (!contract) throw new EventValidationError(type, [{ instancePath: '', schemaPath: '', keyword: 'type', params: {}, message: 'is not a registered event type' }]);
    return contract;
  }
}
