import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A configured secret, or the one generated on first start and kept (0600) in the data directory. Processes
 * sharing the directory (distributed mode on one machine) starting together agree: the file is created
 * exclusively, and whoever loses that race reads the winner's.
 */
export function resolveSecret(configured: string | null, dataDir: string, fileName: string, prefix: string): { secret: string; generatedAt: string | null } {
  if (configured) return { secret: configured, generatedAt: null };
  const path = join(dataDir, fileName);
  if (existsSync(path)) return { secret: readFileSync(path, 'utf8').trim(), generatedAt: null };
  mkdirSync(dataDir, { recursive: true });
  const secret = `${prefix}${randomBytes(32).toString('base64url')}`;
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { secret: readFileSync(path, 'utf8').trim(), generatedAt: null };
  }
  return { secret, generatedAt: path };
}

/** CURBMAP_ADMIN_TOKEN, or the token generated on first start and kept in the data directory. */
export function resolveAdminToken(configured: string | null, dataDir: string): { token: string; generatedAt: string | null } {
  const { secret, generatedAt } = resolveSecret(configured, dataDir, 'admin-token', 'cma_');
  return { token: secret, generatedAt };
}
