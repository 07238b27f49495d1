import type { ApiKeyRole } from '@curbmap/contracts';

/** Who is calling, resolved from the bearer token by the gateway before any route runs. */
export type AuthContext =
  | { kind: 'admin' }
  | { kind: 'key'; organizationId: string; keyId: string; role: ApiKeyRole; projectId: string | null };

export type KeyAuth = Extract<AuthContext, { kind: 'key' }>;

/** How a route is protected: `key` needs an organization API key with at least `minRole`. */
export type RouteAuth = 'public' | 'admin' | 'key';

const rank: Record<ApiKeyRole, number> = { read_only: 0, member: 1, billing_admin: 2, owner: 3 };

export function roleAtLeast(role: ApiKeyRole, minimum: ApiKeyRole): boolean {
  return rank[role] >= rank[minimum];
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext | null;
    /** Stable across client retries when an Idempotency-Key is sent; event ids derive from it. */
    commandId: string;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
    minRole?: ApiKeyRole;
    /** The answer shows a secret once (a new API key): an Idempotency-Key retry runs again instead of replaying it. */
    responseContainsSecret?: boolean;
    /** Where to poll when the answer is 202 because a read model lags (default: the request's path). */
    pollLocation?: string;
    /**
     * The request names its own effect (a Stripe event, by its id): sent again, it cannot do twice what it did, so a
     * store or service lost after it wrote still answers 503 (retry), as with an Idempotency-Key.
     */
    replaySafe?: boolean;
  }
}
