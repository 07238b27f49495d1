import { describe, expect, it } from 'vitest';
import { HmacDownloadLinks } from './hmacDownloadLinks.ts';

const links = new HmacDownloadLinks('s'.repeat(32));
const now = new Date('2027-05-10T12:00:00Z');
const ORG = '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01';

describe('signed download links', () => {
  const signed = new URL(links.sign('job-1', ORG, new Date('2027-05-10T12:15:00Z')), 'http://x');
  const query = Object.fromEntries(signed.searchParams) as { org: string; expires: string; signature: string };

  it('open their artifact until they expire; another job, organization or signature does not open', () => {
    expect(links.verify('job-1', query, now)).toBeNull();
    expect(links.verify('job-1', query, new Date('2027-05-10T12:15:00Z'))).toBe('expired');
    expect(links.verify('job-2', query, now)).toBe('invalid');
    expect(links.verify('job-1', { ...query, org: '00000000-0000-4000-8000-000000000000' }, now)).toBe('invalid');
    expect(links.verify('job-1', { ...query, signature: query.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, now)).toBe('invalid');
  });

  it('take the expiry only as written when signed: no other spelling of the same instant', () => {
    const seconds = Number(query.expires);
    for (const expires of [`0${seconds}`, ` ${seconds}`, `${seconds} `, `+${seconds}`, `${seconds}.0`, `0x${seconds.toString(16)}`, `${seconds / 10}e1`, '', '-1']) {
      expect(links.verify('job-1', { ...query, expires }, now), JSON.stringify(expires)).toBe('invalid');
    }
  });
});
