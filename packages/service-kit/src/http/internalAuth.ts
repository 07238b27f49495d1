import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
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
   * The one process the request is for: its instance id (random at each start, served by its /healthz). Nonces are
   * kept in that process's memory, so a request captured on the way is refused by every other process of the
   * service and by the same process once restarted: none of them could know its nonce.
   */
  audience: string;
  /**
   * SHA-256 (hex) of the body as forwarded, null without a body, `framed` for a body streamed on as it arrives
   * (a curb import: never held whole, so not hashed before it is sent): it goes in signed frames instead.
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

/** The problem code of a request signed for another process (or this one before a restart): the gateway asks again who answers there. */
export const WRONG_INSTANCE = 'wrong_instance';

/** The principal of a forwarded request for this process (`audience`); a request without a valid, fresh signature is a 401. */
export function verifyPrincipal(headers: IncomingHttpHeaders, method: string, url: string, secret: string, now: number, audience: string): ForwardedPrincipal {
  const encoded = headers[PRINCIPAL_HEADER];
  const signature = headers[SIGNATURE_HEADER];
  if (typeof encoded !== 'string' || typeof signature !== 'string') throw new HttpError(401, 'unauthenticated', 'this service answers requests forwarded by the gateway only');
  const expected = Buffer.from(mac(secret, method, url, encoded));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new HttpError(401, 'unauthenticated', 'the forwarded request is not signed by the gateway');
  const principal = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as ForwardedPrincipal;
  if (!(Math.abs(now - principal.at) <= MAX_AGE_MS)) throw new HttpError(401, 'unauthenticated', 'the forwarded request is too old');
  if (typeof principal.nonce !== 'string' || principal.nonce.length < 16) throw new HttpError(401, 'unauthenticated', 'the forwarded request has no nonce');
  if (principal.audience !== audience) throw new HttpError(401, WRONG_INSTANCE, 'the forwarded request was signed for another process of this service (or this one before it restarted)');
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

/** A frame's header: the length of its bytes (4, big-endian) and its MAC (32). */
const FRAME_HEAD = 36;
/** No frame is larger (the gateway cuts larger chunks): a length beyond it is not the gateway's, and none is held longer. */
const MAX_FRAME = 64 * 1024;
export const FRAMED_BODY = 'framed';

/** A frame's MAC: the request's nonce and the frame's place bind it to this request and this order. */
const frameMac = (secret: string, nonce: string, index: number, bytes: Buffer | null) => {
  const hmac = createHmac('sha256', secret).update(`${nonce}\n${index}\n${bytes ? 'data' : 'end'}\n`);
  return (bytes ? hmac.update(bytes) : hmac).digest();
};

function frame(secret: string, nonce: string, index: number, bytes: Buffer | null): Buffer {
  const head = Buffer.alloc(FRAME_HEAD);
  head.writeUInt32BE(bytes?.length ?? 0, 0);
  frameMac(secret, nonce, index, bytes).copy(head, 4);
  return bytes ? Buffer.concat([head, bytes]) : head;
}

/**
 * A body streamed on as it arrives, in signed frames ([length][MAC][bytes]…, then an empty frame whose MAC says
 * it ended): the service checks each frame before it reads its bytes, and that nothing was cut off or reordered.
 */
export function signFrames(secret: string, nonce: string): Transform {
  let index = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let at = 0; at < chunk.length; at += MAX_FRAME) this.push(frame(secret, nonce, index++, chunk.subarray(at, at + MAX_FRAME)));
      done();
    },
    flush(done) {
      done(null, frame(secret, nonce, index, null));
    },
  });
}

/** The bytes of a framed body, each frame checked before it is passed on; an error (401) at the first that fails. */
export function verifyFrames(secret: string, nonce: string): Transform {
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  let ended = false;
  const refuse = (detail: string) => new HttpError(401, 'unauthenticated', detail);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= FRAME_HEAD) {
        if (ended) return done(refuse('the forwarded body goes on after its signed end'));
        const length = pending.readUInt32BE(0);
        if (length > MAX_FRAME) return done(refuse('the forwarded body is not the one the gateway signed'));
        if (pending.length < FRAME_HEAD + length) break;
        const bytes = length === 0 ? null : pending.subarray(FRAME_HEAD, FRAME_HEAD + length);
        if (!timingSafeEqual(pending.subarray(4, FRAME_HEAD), frameMac(secret, nonce, index, bytes))) return done(refuse('the forwarded body is not the one the gateway signed'));
        index += 1;
        if (bytes) this.push(bytes);
        else ended = true;
        pending = pending.subarray(FRAME_HEAD + length);
      }
      done();
    },
    flush(done) {
      done(ended && pending.length === 0 ? null : refuse('the forwarded body was cut off before its signed end'));
    },
  });
}
