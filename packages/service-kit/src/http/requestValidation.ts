import type { FastifyInstance } from 'fastify';
import { createRequestAjv } from '@curbmap/contracts';

/**
 * Route schemas compile with two ajv instances: bodies without type coercion (JSON already has types, and
 * coercing `null` to `false` turned `{"atPeriodEnd": null}` into an immediate cancellation), querystrings and
 * path parameters with it (they are strings on the wire). Shared schemas (app.addSchema) go to both.
 */
export function installRequestValidation(app: FastifyInstance): void {
  const body = createRequestAjv('body');
  const other = createRequestAjv('other');
  const added = new Set<string>();
  app.setValidatorCompiler(({ schema, httpPart }) => {
    for (const [id, shared] of Object.entries(app.getSchemas() as Record<string, object>)) {
      if (added.has(id)) continue;
      body.addSchema(shared);
      other.addSchema(shared);
      added.add(id);
    }
    return (httpPart === 'body' ? body : other).compile(schema);
  });
}
