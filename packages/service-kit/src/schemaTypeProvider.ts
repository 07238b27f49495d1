import type { FastifyTypeProvider } from 'fastify';
import type { SchemaType } from '@curbmap/contracts';

/**
 * Request types derived from each route's own JSON Schemas (body, params, querystring declared `as const`):
 * written once, validated by ajv at run time, typed by the compiler. Use `app.withTypeProvider<SchemaTypes>()`.
 */
export interface SchemaTypes extends FastifyTypeProvider {
  readonly validator: this['schema'] extends object ? SchemaType<this['schema']> : unknown;
  readonly serializer: unknown;
}
