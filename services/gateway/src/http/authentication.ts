import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ReadStore } from '@curbmap/eventsourcing';
import { forbidden, HttpError, roleAtLeast, unauthorized, type RouteAuth, type ServiceContext } from '@curbmap/service-kit';
import { hashApiKey } from '../application/apiKeySecrets.ts';
import { tenancyCollections, type ApiKeyLookup, type ApiKeyView } from '../projections/tenancyProjection.ts';
import { cookieValue, lowerRole, portalSessionStream, portalStreamExists, SESSION_COOKIE, type PortalGrant, type PortalSigner } from '../application/portalSessions.ts';

/** Methods a cookie session may use without the portal's header: a cross-site form cannot send it (no CORS here). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const PORTAL_HEADER = 'x-curbmap-portal';

/** The grant of the request's session cookie, if it carries a valid one. */
function sessionGrant(signer: PortalSigner | null, cookieHeader: string | undefined, now: number): PortalGrant | null {
  const value = signer ? cookieValue(cookieHeader, SESSION_COOKIE) : null;
  return value ? signer!.verify('session', value, now) : null;
}

/**
 * What a request presents: its bearer token, the token's hash, its session cookie's grant. The rate limiter
 * (per key) and the authentication hook both need them: each is worked out once per request (a SHA-256, an
 * HMAC check), on the platform's clock.
 */
export interface Presented {
  token: string | null;
  tokenHash(): string | null;
  grant(): PortalGrant | null;
  /** The key the session cookie's grant names, read once (null: no grant, or no such key). */
  grantKey(readStore: ReadStore): Promise<ApiKeyView | null>;
}

const presented = new WeakMap<FastifyRequest, Presented>();

export function presentedBy(request: FastifyRequest, signer: PortalSigner | null, now: () => Date): Presented {
  let found = presented.get(request);
  if (!found) {
    const token = bearer(request.headers.authorization);
    let hash: string | null | undefined;
    let grant: PortalGrant | null | undefined;
    let key: Promise<ApiKeyView | null> | undefined;
    const grantOf = () => (grant === undefined ? (grant = sessionGrant(signer, request.headers.cookie, now().getTime())) : grant);
    found = {
      token,
      tokenHash: () => (hash ??= token ? hashApiKey(token) : null),
      grant: grantOf,
      grantKey: (readStore) => {
        const named = grantOf();
        return (key ??= named ? readStore.get<ApiKeyView>(tenancyCollections.apiKeys, named.keyId) : Promise.resolve(null));
      },
    };
    presented.set(request, found);
  }
  return found;
}

function bearer(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match ? match[1]! : null;
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Failed authentications per client address, in fixed one-minute windows: guessing keys (each guess a new
 * token, which the per-key limit would count apart) costs a client its address, for failures only.
 */
export class FailedAuthLimiter {
  private readonly windows = new Map<string, { start: number; failures: number }>();
  private readonly max: number;
  private readonly now: () => number;

  constructor(max: number, now: () => number = Date.now) {
    this.max = max;
    this.now = now;
  }

  /** Seconds until the address may try again, or 0. */
  retryAfter(address: string): number {
    const w = this.windows.get(address);
    if (!w) return 0;
    const left = w.start + 60_000 - this.now();
    if (left <= 0) {
      this.windows.delete(address);
      return 0;
    }
    return w.failures >= this.max ? Math.ceil(left / 1000) : 0;
  }

  /** A 429 problem (with Retry-After) when the address has failed too often this minute. */
  assertAllowed(address: string): void {
    const wait = this.retryAfter(address);
    if (wait > 0) throw new HttpError(429, 'rate_limited', `too many failed authentications from this address; retry in ${wait} s`, undefined, { 'retry-after': String(wait) });
  }

  fail(address: string): void {
    const t = this.now();
    let w = this.windows.get(address);
    if (!w || t - w.start >= 60_000) {
      if (this.windows.size > 100_000) this.sweep(t);
      w = { start: t, failures: 0 };
      this.windows.set(address, w);
    }
    w.failures += 1;
  }

  private sweep(t: number): void {
    for (const [address, w] of this.windows) if (t - w.start >= 60_000) this.windows.delete(address);
  }
}

/**
 * Every route is private unless its config says `auth: 'public'`: a route that forgets to say gets the key
 * check, never an open door. Unknown paths fall through to 404/405 without one.
 */
export function installAuthentication(app: FastifyInstance, ctx: ServiceContext, options: { adminToken: string; unauthenticatedPerMinute: number; portal: PortalSigner | null }): FailedAuthLimiter {
  const limiter = new FailedAuthLimiter(options.unauthenticatedPerMinute);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === undefined) return;
    const mode: RouteAuth = request.routeOptions.config?.auth ?? 'key';
    if (mode === 'public') return;
    // An address over the limit (a guesser, or a proxy many customers share when TRUST_PROXY is not set) gets 429
    // for what it fails, while a valid API key still goes through: keys are 256 random bits, so answering a right
    // one tells a guesser nothing it could use. The admin token is chosen by the operator and may be weaker: an
    // address over the limit gets no answer about it at all.
    if (mode === 'admin') limiter.assertAllowed(request.ip);
    const refuse = (error: HttpError) => {
      limiter.assertAllowed(request.ip);
      limiter.fail(request.ip);
      return error;
    };
    const credentials = presentedBy(request, options.portal, ctx.now);
    const token = credentials.token;
    if (!token && mode === 'key') {
      // The dashboard's browser session: an HttpOnly cookie naming a key, never the key itself.
      const grant = credentials.grant();
      if (grant) {
        const key = await credentials.grantKey(ctx.readStore);
        if (!key || key.organizationId !== grant.organizationId || key.revokedAt) throw refuse(unauthorized('the key this session was opened with has been revoked: sign in again'));
        if (await portalStreamExists(ctx.store, portalSessionStream(grant.id))) throw refuse(unauthorized('this session was signed out: sign in again'));
        if (!SAFE_METHODS.has(request.method) && request.headers[PORTAL_HEADER] !== '1') throw forbidden(`a change made with a session cookie must send the ${PORTAL_HEADER}: 1 header`);
        const role = lowerRole(grant.role, key.role as Parameters<typeof roleAtLeast>[0]);
        request.auth = { kind: 'key', organizationId: key.organizationId, keyId: key.id, role, projectId: key.projectId };
        const minRole = request.routeOptions.config?.minRole ?? 'read_only';
        if (!roleAtLeast(role, minRole)) throw forbidden(`this action needs the ${minRole} role or higher; this session has ${role}`);
        return;
      }
    }
    if (!token) throw refuse(unauthorized());
    if (mode === 'admin') {
      if (!sameSecret(token, options.adminToken)) throw refuse(unauthorized('this route needs the platform admin token'));
      request.auth = { kind: 'admin' };
      return;
    }
    const key = await ctx.readStore.get<ApiKeyLookup>(tenancyCollections.apiKeyLookup, credentials.tokenHash()!);
    if (!key) throw refuse(unauthorized('unknown API key'));
    if (key.revoked) throw refuse(unauthorized('this API key has been revoked'));
    const role = key.role as Parameters<typeof roleAtLeast>[0];
    request.auth = { kind: 'key', organizationId: key.organizationId, keyId: key.keyId, role, projectId: key.projectId };
    request.log = request.log.child({ organizationId: key.organizationId, keyId: key.keyId });
    const minRole = request.routeOptions.config?.minRole ?? 'read_only';
    if (!roleAtLeast(role, minRole)) throw forbidden(`this action needs the ${minRole} role or higher; this key has ${role}`);
  });
  return limiter;
}
