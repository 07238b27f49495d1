/** The public API, as the signed-in browser calls it: the session cookie goes along, the key never appears here. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  // Changes need this header: another site's form cannot send it (the cookie is SameSite=Strict as well).
  if (method !== 'GET') headers['x-curbmap-portal'] = '1';
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && init.body === undefined) headers['idempotency-key'] = crypto.randomUUID();
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const body = text ? (JSON.parse(text) as unknown) : null;
  if (!res.ok) throw new ApiError(res.status, (body as { detail?: string } | null)?.detail ?? `${res.status} ${res.statusText}`);
  return body as T;
}

export interface Me {
  organization: { id: string; name: string; timeZone: string; currency: string };
  role: 'owner' | 'billing_admin' | 'member' | 'read_only';
  keyId: string;
  projectId: string | null;
}

const rank = { read_only: 0, member: 1, billing_admin: 2, owner: 3 } as const;
export const can = (me: Me, role: keyof typeof rank) => rank[me.role] >= rank[role];
