/** An artifact key: path segments of letters, digits, dots, dashes and underscores; never `..`, never absolute. */
const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

export function checkArtifactKey(key: string): string {
  if (!KEY.test(key) || key.endsWith('.partial') || key.split('/').includes('..')) throw new Error(`invalid artifact key ${key}`);
  return key;
}
