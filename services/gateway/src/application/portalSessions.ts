import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRole } from '@curbmap/contracts';
import type { EventStore } from '@curbmap/eventsourcing';

/** Who a browser acts as: an API key of an organization (never the key itself), with at most that key's role. */
export interface PortalGrant {
  /** The link's or the session's own id: a link is used once, a session signed out ends (portal-<kind>-<id>). */
  id: string;
  organizationId: string;
  keyId: string;
  role: ApiKeyRole;
  projectId: string | null;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** A portal link (sent to a finance officer) lives 15 minutes by default; the browser session it opens, 8 hours. */
export const LINK_TTL_MS = 15 * 60_000;
export const SESSION_TTL_MS = 8 * 3_600_000;
export const SESSION_COOKIE = 'curbmap_session';

const roles: ApiKeyRole[] = ['read_only', 'member', 'billing_admin', 'owner'];
export const lowerRole = (a: ApiKeyRole, b: ApiKeyRole): ApiKeyRole => (roles.indexOf(a) <= roles.indexOf(b) ? a : b);

/**
 * Signed, self-contained grants (HMAC-SHA256 over the kind and the payload): a link cannot pass for a session
 * cookie nor the reverse, and a changed payload fails. Revoking the key ends every grant made from it (checked
 * on each request).
 */
export class PortalSigner {
  private readonly secret: string;

  constructor(secret: string) {
    this.secret = secret;
  }

  sign(kind: 'link' | 'session', grant: PortalGrant): string {
    const payload = Buffer.from(JSON.stringify([grant.organizationId, grant.keyId, grant.role, grant.projectId, grant.expiresAt, grant.id])).toString('base64url');
    return `${payload}.${this.mac(kind, payload)}`;
  }

  /** The grant a token carries, or null when it is malformed, forged, of the other kind or expired. */
  verify(kind: 'link' | 'session', token: string, now: number): PortalGrant | null {
    const [payload, mac, extra] = token.split('.');
    if (!payload || !mac || extra !== undefined) return null;
    const expected = Buffer.from(this.mac(kind, payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      const [organizationId, keyId, role, projectId, expiresAt, id] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as [string, string, ApiKeyRole, string | null, number, string];
      // A grant without an id (made before links and sessions could be ended) is not taken.
      if (!roles.includes(role) || typeof expiresAt !== 'number' || expiresAt <= now || typeof id !== 'string') return null;
      return { id, organizationId, keyId, role, projectId, expiresAt };
    } catch {
      return null;
    }
  }

  private mac(kind: string, payload: string): string {
    return createHmac('sha256', this.secret).update(`${kind}.${payload}`).digest('base64url');
  }
}

export const portalLinkStream = (linkId: string) => `portal-link-${linkId}`;
export const portalSessionStream = (sessionId: string) => `portal-session-${sessionId}`;

/** Was the link used, or the session signed out? Either stream exists only then. */
export async function portalStreamExists(store: EventStore, streamId: string): Promise<boolean> {
  for await (const _ of store.readStream(streamId)) return true;
  return false;
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/** Set-Cookie for the session: never readable by scripts, never sent by another site, Secure over https. */
export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}
