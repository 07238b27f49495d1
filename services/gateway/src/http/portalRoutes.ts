import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { apiKeyRoles, type ApiKeyRole } from '@curbmap/contracts';
import { forbidden, keyAuth, notFound, problemResponses, roleAtLeast, unauthorized, type ServiceContext } from '@curbmap/service-kit';
import { hashApiKey } from '../application/apiKeySecrets.ts';
import { ConcurrencyError } from '@curbmap/eventsourcing';
import { LINK_TTL_MS, lowerRole, portalLinkStream, portalSessionStream, portalStreamExists, SESSION_TTL_MS, sessionCookie, type PortalGrant, type PortalSigner } from '../application/portalSessions.ts';
import { tenancyCollections as C, type ApiKeyLookup, type ApiKeyView, type OrganizationView } from '../projections/tenancyProjection.ts';
import { PORTAL_HEADER, presentedBy, type FailedAuthLimiter } from './authentication.ts';

const tags = ['portal'];
/** Links' base when PUBLIC_URL is not set (the embedded platform on its default port). */
export const DEFAULT_PUBLIC_URL = 'http://localhost:8080';

/**
 * Signing the dashboard in without a key in the page: a short-lived signed link (`POST /v1/portal-sessions`, for a
 * finance officer), or an API key typed once into the sign-in form. Either becomes an HttpOnly, SameSite=Strict
 * session cookie naming the key (never the key); the link is answered with a redirect to `/`, so neither the key
 * nor the link stays in the page's address or history.
 */
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page a portal link opens: one button that uses the link (no script; the token goes only to this origin). */
function enterPage(organization: string, role: string, token: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in to CurbMap</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}button{font:inherit;padding:.6rem 1.2rem;background:#1f4e79;color:#fff;border:0;border-radius:4px;cursor:pointer}</style></head>
<body><main><h1>Sign in to CurbMap</h1><p>This link signs you in to the dashboard of <strong>${escapeHtml(organization)}</strong> as ${escapeHtml(role.replace('_', ' '))}. It works once.</p>
<form method="post" action="/portal/enter"><input type="hidden" name="token" value="${escapeHtml(token)}"><button type="submit">Continue to the dashboard</button></form></main></body></html>`;
}

export function registerPortalRoutes(app: FastifyInstance, ctx: ServiceContext, options: { signer: PortalSigner; publicUrl: string | null; failedAuth: FailedAuthLimiter }): void {
  const { signer } = options;
  const secure = (request: FastifyRequest) => request.protocol === 'https';
  const openSession = (reply: FastifyReply, request: FastifyRequest, grant: Omit<PortalGrant, 'expiresAt'>) => {
    const expiresAt = ctx.now().getTime() + SESSION_TTL_MS;
    reply.header('set-cookie', sessionCookie(signer.sign('session', { ...grant, expiresAt }), SESSION_TTL_MS / 1000, secure(request)));
    reply.header('cache-control', 'no-store');
  };

  app.post('/v1/portal-sessions', {
    config: { auth: 'key', minRole: 'billing_admin', responseContainsSecret: true },
    schema: {
      summary: 'A short-lived link that signs a browser in to the dashboard, for someone without a key',
      description: 'The link acts for the calling key with `role` (at most the key\'s own; default read_only) and works for `expiresInMinutes` (default 15). Revoking the key ends the sessions it opened.',
      tags,
      security: [{ apiKey: [] }],
      body: {
        type: 'object',
        additionalProperties: false,
        properties: { role: { type: 'string', enum: [...apiKeyRoles] }, expiresInMinutes: { type: 'integer', minimum: 1, maximum: 1440 } },
      },
      response: { 201: { type: 'object', required: ['url', 'expiresAt'], properties: { url: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } } }, ...problemResponses(400, 401, 403) },
    },
    handler: async (request, reply) => {
      const auth = keyAuth(request);
      const body = (request.body ?? {}) as { role?: ApiKeyRole; expiresInMinutes?: number };
      const role = body.role ?? 'read_only';
      if (!roleAtLeast(auth.role, role)) throw forbidden(`a link cannot have more than this key's role (${auth.role})`);
      const expiresAt = ctx.now().getTime() + (body.expiresInMinutes ? body.expiresInMinutes * 60_000 : LINK_TTL_MS);
      const token = signer.sign('link', { id: randomUUID(), organizationId: auth.organizationId, keyId: auth.keyId, role, projectId: auth.projectId, expiresAt });
      // PUBLIC_URL, never the request's Host header: a forged Host would send the officer's link (and its token) elsewhere.
      const base = options.publicUrl ?? DEFAULT_PUBLIC_URL;
      reply.code(201);
      return { url: `${base.replace(/\/$/, '')}/portal/enter?token=${token}`, expiresAt: new Date(expiresAt).toISOString() };
    },
  });

  /** The grant a link token carries and the key it acts with, or null when the link cannot be used. */
  const linkGrant = async (token: string) => {
    const grant = signer.verify('link', token, ctx.now().getTime());
    const key = grant ? await ctx.readStore.get<ApiKeyView>(C.apiKeys, grant.keyId) : null;
    return grant && key && !key.revokedAt && key.organizationId === grant.organizationId ? { grant, key } : null;
  };

  // Opening the link only asks: mail scanners (Safe Links and the like) fetch every link in a message first, and
  // a GET that used the link up would leave the officer an expired one. The POST of the page's button uses it.
  app.get('/portal/enter', {
    config: { auth: 'public' },
    schema: { hide: true, querystring: { type: 'object', properties: { token: { type: 'string', maxLength: 1000 } } } },
    handler: async (request, reply) => {
      const token = (request.query as { token?: string }).token ?? '';
      reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store');
      const usable = await linkGrant(token);
      if (!usable || (await portalStreamExists(ctx.store, portalLinkStream(usable.grant.id)))) return reply.redirect('/#/sign-in?link=expired', 303);
      const organization = (await ctx.readStore.get<OrganizationView>(C.organizations, usable.grant.organizationId))?.name ?? 'your organization';
      return reply
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        .type('text/html; charset=utf-8')
        .send(enterPage(organization, usable.grant.role, token));
    },
  });

  app.register(async (scope) => {
    // The page's form posts the token as a form field.
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
    scope.post('/portal/enter', {
      config: { auth: 'public' },
      schema: { hide: true, body: { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 1000 } } } },
      handler: async (request, reply) => {
        reply.header('referrer-policy', 'no-referrer');
        // Posted by the link's own page only: another site's form could sign a visitor in to its organization.
        const site = request.headers['sec-fetch-site'];
        if (site !== undefined && site !== 'same-origin') throw forbidden('a sign-in link is used from its own page');
        const usable = await linkGrant((request.body as { token: string }).token);
        if (!usable) return reply.redirect('/#/sign-in?link=expired', 303);
        const { grant, key } = usable;
        // A link opens one session, once: a link forwarded, leaked from a mailbox or replayed from history does not.
        const sessionId = randomUUID();
        try {
          await ctx.store.append(portalLinkStream(grant.id), [{ id: randomUUID(), type: 'tenancy.portal_link.used', data: { linkId: grant.id, keyId: grant.keyId, sessionId }, occurredAt: ctx.now().toISOString(), organizationId: grant.organizationId, correlationId: String(request.id) }], { expectedVersion: 'no_stream' });
        } catch (err) {
          if (err instanceof ConcurrencyError) return reply.redirect('/#/sign-in?link=expired', 303);
          throw err;
        }
        openSession(reply, request, { id: sessionId, organizationId: grant.organizationId, keyId: grant.keyId, role: lowerRole(grant.role, key.role as ApiKeyRole), projectId: key.projectId });
        return reply.redirect('/', 303);
      },
    });
  });

  app.post('/portal/sign-in', {
    config: { auth: 'public' },
    schema: { hide: true, body: { type: 'object', additionalProperties: false, required: ['apiKey'], properties: { apiKey: { type: 'string', minLength: 1, maxLength: 200 } } } },
    handler: async (request, reply) => {
      if (request.headers[PORTAL_HEADER] !== '1') throw forbidden(`sign in from the dashboard (it sends ${PORTAL_HEADER}: 1)`);
      // Guessing keys here costs the address as it does on the API (for failures only).
      const found = await ctx.readStore.get<ApiKeyLookup>(C.apiKeyLookup, hashApiKey((request.body as { apiKey: string }).apiKey.trim()));
      if (!found || found.revoked) {
        options.failedAuth.assertAllowed(request.ip);
        options.failedAuth.fail(request.ip);
        throw unauthorized('unknown or revoked API key');
      }
      openSession(reply, request, { id: randomUUID(), organizationId: found.organizationId, keyId: found.keyId, role: found.role as ApiKeyRole, projectId: found.projectId });
      return reply.code(204).send();
    },
  });

  app.post('/portal/sign-out', {
    config: { auth: 'public' },
    schema: { hide: true },
    handler: async (request, reply) => {
      // Ended on the server too: the cookie, copied before sign-out, opens nothing afterwards.
      const grant = presentedBy(request, signer, ctx.now).grant();
      if (grant) {
        await ctx.store
          .append(portalSessionStream(grant.id), [{ id: randomUUID(), type: 'tenancy.portal_session.ended', data: { sessionId: grant.id, keyId: grant.keyId }, occurredAt: ctx.now().toISOString(), organizationId: grant.organizationId, correlationId: String(request.id) }], { expectedVersion: 'no_stream' })
          .catch((err: unknown) => {
            if (!(err instanceof ConcurrencyError)) throw err; // signed out before
          });
      }
      reply.header('set-cookie', sessionCookie('', 0, secure(request)));
      return reply.code(204).send();
    },
  });

  app.get('/v1/portal/me', {
    config: { auth: 'key', minRole: 'read_only' },
    schema: {
      summary: 'Who the caller is: organization, role, key and project scope (what the dashboard shows and allows)',
      tags,
      security: [{ apiKey: [] }],
      response: { 200: { type: 'object', properties: { organization: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, timeZone: { type: 'string' }, currency: { type: 'string' } } }, role: { type: 'string' }, keyId: { type: 'string' }, projectId: { type: ['string', 'null'] } } }, ...problemResponses(401) },
    },
    handler: async (request) => {
      const auth = keyAuth(request);
      const org = await ctx.readStore.get<OrganizationView>(C.organizations, auth.organizationId);
      if (!org) throw notFound('organization');
      return { organization: { id: org.id, name: org.name, timeZone: org.timeZone, currency: org.currency }, role: auth.role, keyId: auth.keyId, projectId: auth.projectId };
    },
  });
}
