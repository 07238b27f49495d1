
export const uuid = { type: 'string', format: 'uuid' } as const;
export const currency = { type: 'string', format: 'iso-4217', pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, upper case, e.g. USD' } as const;
export const timeZone = { type: 'string', format: 'iana-time-zone', description: 'IANA time zone, e.g. America/New_York' } as const;
export const instant = { type: 'string', format: 'date-time' } as const;
/** The largest amount we take: 10^12 minor units (safe integers only, far from 2^53). */
export const MAX_AMOUNT = 1_000_000_000_000;
/** Money is always integer minor units with its currency. */
export const minorUnits = { type: 'integer', minimum: 0, maximum: MAX_AMOUNT } as const;

/** A closed object whose every property is required: the shape of every event's data. */
export type ObjectSchema<P> = {
  type: 'object';
  additionalProperties: false;
  properties: P;
  required: (keyof P & string)[];
};

export function object<const P extends Record<string, unknown>>(properties: P): ObjectSchema<P> {
  return { type: 'object', additionalProperties: false, properties, required: Object.keys(properties) as (keyof P & string)[] };
}

/** An object schema with further properties that may be absent (a property added after events were written). */
export function withOptional<const P extends Record<string, unknown>, const O extends Record<string, unknown>>(schema: ObjectSchema<P>, optional: O): { type: 'object'; additionalProperties: false; properties: P & O; required: (keyof P & string)[] } {
  return { ...schema, properties: { ...schema.properties, ...optional } };
}

type Primitive<T> = T extends 'string' ? string : T extends 'integer' | 'number' ? number : T extends 'boolean' ? boolean : T extends 'null' ? null : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** Properties with a `default` are always there once validated (ajv's useDefaults fills them in). */
type Defaulted<P> = { [K in keyof P]: P[K] extends { default: unknown } ? K : never }[keyof P];
type ObjectOf<P, R, Present = R | Defaulted<P>> = Simplify<{ [K in keyof P & Present]: SchemaType<P[K]> } & { [K in Exclude<keyof P, Present>]?: SchemaType<P[K]> }>;

/**
 * The TypeScript type a JSON Schema describes, for the subset our contracts use (const, enum, anyOf, type
 * lists, arrays, objects): event and request types are derived from their schemas, never written twice.
 */
export type SchemaType<S> = S extends { const: infer C }
  ? C
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { anyOf: readonly (infer A)[] }
      ? SchemaType<A>
      : S extends { type: readonly (infer T)[] }
        ? Primitive<T>
        : S extends { type: 'array'; items: infer I }
          ? SchemaType<I>[]
          : S extends { type: 'object'; properties: infer P; required: readonly (infer R)[] }
            ? ObjectOf<P, R>
            : S extends { type: 'object'; properties: infer P }
              ? ObjectOf<P, never>
              : S extends { type: 'object' }
              ? Record<string, unknown>
              : S extends { type: infer T }
                ? Primitive<T>
                : unknown;

/** The events a map of event type → data schema describes, as a discriminated union on `type`. */
export type EventsOf<M> = { [T in keyof M & string]: { type: T; data: SchemaType<M[T]> } }[keyof M & string];
