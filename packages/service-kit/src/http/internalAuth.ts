import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthContext } from '../auth.ts';
import { HttpError } from '../problem.ts';

/** What the gateway decided about a request it forwards to a service: who calls, and the command's id. */
export interface ForwardedPrincipal {
  auth: AuthContext | null;
  /** Stable across a client's retries (Idempotency-Key): event ids derive from it in the service too. */
  commandId: string;
  /** Milliseconds since the epoch when the gateway signed it. */
  at: number;
  /** Once per forwarded request: a service takes each nonce once, so a captured request cannot be sent again. */
  nonce: string;
  /**
   * SHA-256 (hex) of the body as forwarded, null without a body, `stream` for a body streamed on as it arrives
   * (a curb import: never held whole, so not hashed before it is sent; the nonce still makes it one-time).
   */
  body: string | null;
}

export const PRINCIPAL_HEADER = 'x-curbmap-principal';
export const SIGNATURE_HEADER = 'x-curbmap-signature';
/** How old a forwarded request may be (clock skew between processes on a network included). */
const MAX_AGE_MS = 60_000;

const mac = (secret: string, method: string, url: string, principal: string) => createHmac('sha256', secret).update(`${method}\n${url}\n${principal}`).digest('base64url');

/** The body's digest as the principal names it. */
export const bodyDigest = (body: string | Buffer) => createHash('sha256').update(body).digest('hex');

/**
 * Headers that carry the gateway's decision to a service: authentication and tenancy are decided once, at the
 * edge, and a service believes only what carries the shared secret's signature over method, URL and principal
 * (which names the body's digest and a nonce).
 */
export function signPrincipal(principal: ForwardedPrincipal, method: string, url: string, secret: string): Record<string, string> {
  const encoded = Buffer.from(JSON.stringify(principal)).toString('base64url');
  return { [PRINCIPAL_HEADER]: encoded, [SIGNATURE_HEADER]: mac(secret, method, url, encoded) };
}

/** The principal of a forwarded request; a request without a valid, fresh signature is a 401. */
export function verifyPrincipal(headers: IncomingHttpHeaders, method: string, url: string, secret: string, now: number): ForwardedPrincipal {
  const encoded = headers[PRINCIPAL_HEADER];
  const signature = headers[SIGNATURE_HEADER];
  if (typeof encoded !== 'string' || typeof signature !== 'string') throw new HttpError(401, 'unauthenticated', 'this service answers requests forwarded by the gateway only');
  const expected = Buffer.from(mac(secret, method, url, encoded));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new HttpError(401, 'unauthenticated', 'the forwarded request is not signed by the gateway');
  const principal = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as ForwardedPrincipal;
  if (!(Math.abs(now - principal.at) <= MAX_AGE_MS)) throw new HttpError(401, 'unauthenticated', 'the forwarded request is too old');
  if (typeof principal.nonce !== 'string' || principal.nonce.length < 16) throw new HttpError(401, 'unauthenticated', 'the forwarded request has no nonce');
  return principal;
}

/**
 * The nonces a service has taken, each kept as long as a request carrying it could still be fresh (twice the
 * allowed age, for clock skew either way): a request sent again within that time is refused.
 */
export class NonceLedger {
  private readonly seen = new Map<string, number>();

  /** Takes the nonce, or refuses it (401) when it was taken before. */
  take(nonce: string, now: number): void {
    if (this.seen.size > 10_000) for (const [n, until] of this.seen) if (until <= now) this.seen.delete(n);
    const until = this.seen.get(nonce);
    if (until !== undefined && until > now) throw new HttpError(401, 'unauthenticated', 'the forwarded request was already received (replayed)');
    this.seen.set(nonce, now + 2 * MAX_AGE_MS);
  }
}
