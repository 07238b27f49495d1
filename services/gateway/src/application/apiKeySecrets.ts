import { createHash, randomBytes } from 'node:crypto';

/** Keys look like cmk_<8 hex>_<43 base64url>; only their SHA-256 is stored. */
export function generateApiKey(): { key: string; keyHash: string; prefix: string } {
  const prefix = `cmk_${randomBytes(4).toString('hex')}`;
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, keyHash: hashApiKey(key), prefix };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
