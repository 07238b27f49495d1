import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { HttpError } from '@curbmap/service-kit';

/** Where `vite build` puts the dashboard (services/gateway/web/dist), from src/http or dist/http alike. */
export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

const types: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.json': 'application/json' };

/** Only what the page needs: its own scripts, styles, images, the API; no inline script, no framing by others. */
export const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The dashboard (services/gateway/web, built by Vite): `/` and its hashed assets, read once at start-up. It uses
 * only the public API, so it shows nothing a key could not already read.
 */
export function registerWebAppRoutes(app: FastifyInstance, dist = WEB_DIST): void {
  const index = existsSync(join(dist, 'index.html')) ? readFileSync(join(dist, 'index.html')) : null;
  const assets = new Map<string, Buffer>();
  if (existsSync(join(dist, 'assets'))) for (const name of readdirSync(join(dist, 'assets'))) assets.set(name, readFileSync(join(dist, 'assets', name)));

  app.get('/', { config: { auth: 'public' }, schema: { hide: true } }, async (_request, reply) => {
    if (!index) throw new HttpError(503, 'dashboard_not_built', 'the dashboard is not built here: `make up` builds it (pnpm --filter @curbmap/gateway build:web)');
    return reply.type('text/html; charset=utf-8').header('content-security-policy', DASHBOARD_CSP).header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(index);
  });

  app.get('/assets/:file', { config: { auth: 'public' }, schema: { hide: true, params: { type: 'object', properties: { file: { type: 'string', pattern: '^[\\w.-]+$' } } } } }, async (request, reply) => {
    const name = (request.params as { file: string }).file;
    const body = assets.get(name);
    if (!body) throw new HttpError(404, 'not_found', `no asset ${name}`);
    // Names carry a content hash: a changed file is a new name.
    return reply.type(types[extname(name)] ?? 'application/octet-stream').header('cache-control', 'public, max-age=31536000, immutable').header('x-content-type-options', 'nosniff').send(body);
  });
}
