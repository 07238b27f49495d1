import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** CURBMAP_ADMIN_TOKEN, or the token generated on first start and kept in the data directory. */
export function resolveAdminToken(configured: string | null, dataDir: string): { token: string; generatedAt: string | null } {
  if (configured) return { token: configured, generatedAt: null };
  const path = join(dataDir, 'admin-token');
  if (existsSync(path)) return { token: readFileSync(path, 'utf8').trim(), generatedAt: null };
  const token = `cma_${randomBytes(32).toString('base64url')}`;
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return { token, generatedAt: path };
}
