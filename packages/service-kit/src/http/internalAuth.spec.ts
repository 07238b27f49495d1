import { describe, expect, it } from 'vitest';
import { HttpError } from '../problem.ts';
import { signPrincipal, verifyPrincipal, type ForwardedPrincipal } from './internalAuth.ts';

const secret = 'a-shared-secret-of-at-least-32-characters';
const principal: ForwardedPrincipal = { auth: { kind: 'key', organizationId: 'org-1', keyId: 'key-1', role: 'member', projectId: null }, commandId: 'idem-1', at: 1_000_000, nonce: 'nonce-0123456789abcdef', body: null, audience: 'instance-a' };

const refused = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof HttpError ? `${err.status} ${err.message}` : String(err);
  }
  return 'accepted';
};

describe('the gateway’s signed decision', () => {
  it('reaches the service as signed: who calls and the command id', () => {
    const headers = signPrincipal(principal, 'POST', '/v1/meters', secret);
    expect(verifyPrincipal(headers, 'POST', '/v1/meters', secret, 1_000_500, 'instance-a')).toEqual(principal);
  });

  it('is refused when missing, forged, replayed on another route, signed with another secret, or stale', () => {
    const headers = signPrincipal(principal, 'POST', '/v1/meters', secret);
    expect(refused(() => verifyPrincipal({}, 'POST', '/v1/meters', secret, 1_000_000, 'instance-a'))).toMatch(/^401 .*forwarded by the gateway/);
    // Another organization in the same signature: the principal is what is signed.
    const forged = { ...headers, 'x-curbmap-principal': Buffer.from(JSON.stringify({ ...principal, auth: { ...principal.auth, organizationId: 'org-2' } })).toString('base64url') };
    expect(refused(() => verifyPrincipal(forged, 'POST', '/v1/meters', secret, 1_000_000, 'instance-a'))).toMatch(/^401 .*not signed/);
    expect(refused(() => verifyPrincipal(headers, 'DELETE', '/v1/meters', secret, 1_000_000, 'instance-a'))).toMatch(/^401 .*not signed/);
    expect(refused(() => verifyPrincipal(headers, 'POST', '/v1/meters?x=1', secret, 1_000_000, 'instance-a'))).toMatch(/^401 .*not signed/);
    expect(refused(() => verifyPrincipal(headers, 'POST', '/v1/meters', `${secret}-other`, 1_000_000, 'instance-a'))).toMatch(/^401 .*not signed/);
    expect(refused(() => verifyPrincipal(headers, 'POST', '/v1/meters', secret, 1_000_000 + 61_000, 'instance-a'))).toMatch(/^401 .*too old/);
    // Another process of the service (or this one restarted) never saw its nonce: it is not the audience.
    expect(refused(() => verifyPrincipal(headers, 'POST', '/v1/meters', secret, 1_000_000, 'instance-b'))).toMatch(/^401 .*signed for another process/);
  });
});
