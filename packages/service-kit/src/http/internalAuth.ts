import { createHmac, timingSafeEqual } from 'node:crypto';
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
}

export const PRINCIPAL_HEADER = 'x-curbmap-principal';
export const SIGNATURE_HEADER = 'x-curbmap-signature';
/** How old a forwarded request may be (clock skew between processes on a network included). */
const MAX_AGE_MS = 60_000;

const mac = (secret: string, method: string, url: string, principal: string) => createHmac('sha256', secret).update(`${method}\n${url}\n${principal}`).digest('base64url');

/**
 * Headers that carry the gateway's decision to a service: authentication and tenancy are decided once, at the
 * edge, and a service believes only what carries the shared secret's signature over method, URL and principal.
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
  return principal;
}
