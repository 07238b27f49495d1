import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Download links that need no API key: an HMAC-SHA256 over the job, the organization and the expiry, so a link
 * opens one artifact of one organization until it expires, and changing any part of it breaks it.
 */
export class HmacDownloadLinks {
  private readonly secret: Buffer;

  constructor(secret: string) {
    if (secret.length < 32) throw new Error('the download link secret must have at least 32 characters');
    this.secret = Buffer.from(secret, 'utf8');
  }

  private signature(jobId: string, organizationId: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`export-download\n${jobId}\n${organizationId}\n${expires}`).digest('base64url');
  }

  /** A path (relative to the API's origin) valid until `expiresAt`. */
  sign(jobId: string, organizationId: string, expiresAt: Date): string {
    const expires = Math.floor(expiresAt.getTime() / 1000);
    const query = new URLSearchParams({ org: organizationId, expires: String(expires), signature: this.signature(jobId, organizationId, expires) });
    return `/downloads/exports/${jobId}?${query.toString()}`;
  }

  /** Why the link does not open (null when it does). */
  verify(jobId: string, query: { org?: string; expires?: string; signature?: string }, now: Date): 'invalid' | 'expired' | null {
    // Only the form sign() writes: `1e9`, `0x…`, ` 123` or `0123` would name the same instant with other bytes.
    if (!query.org || !query.signature || !query.expires || !/^[1-9][0-9]{0,14}$/.test(query.expires)) return 'invalid';
    const expires = Number(query.expires);
    const expected = Buffer.from(this.signature(jobId, query.org, expires));
    const given = Buffer.from(query.signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    return expires * 1000 <= now.getTime() ? 'expired' : null;
  }
}
