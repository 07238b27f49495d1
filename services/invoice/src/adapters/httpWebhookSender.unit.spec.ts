import { describe, expect, it } from 'vitest';
import { isPrivateAddress, refuseWebhookUrl, retryAfterMs } from './httpWebhookSender.ts';

describe('webhook targets', () => {
  it('classify loopback, private, link-local, shared and mapped addresses as private; public ones not', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.9', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip'])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false);
  });

  it('refuse private targets, plain http and credentials unless private networks are allowed', async () => {
    expect(await refuseWebhookUrl('https://127.0.0.1/hook', false)).toMatch(/loopback or private/);
    expect(await refuseWebhookUrl('https://[::1]/hook', false)).toMatch(/loopback or private/);
    expect(await refuseWebhookUrl('https://localhost:8443/hook', false)).toMatch(/127\.0\.0\.1|::1|does not resolve/);
    expect(await refuseWebhookUrl('http://93.184.216.34/hook', false)).toBe('url must be https');
    expect(await refuseWebhookUrl('https://user:pw@93.184.216.34/hook', false)).toMatch(/credentials/);
    expect(await refuseWebhookUrl('ftp://93.184.216.34/hook', false)).toBe('url must be https');
    expect(await refuseWebhookUrl('https://93.184.216.34/hook', false)).toBeNull();
    expect(await refuseWebhookUrl('http://127.0.0.1:9/hook', true)).toBeNull();
  });

  it('read Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('120', 0)).toBe(120_000);
    expect(retryAfterMs('Thu, 01 Jan 1970 00:01:00 GMT', 0)).toBe(60_000);
    expect(retryAfterMs('soon', 0)).toBeNull();
    expect(retryAfterMs(undefined, 0)).toBeNull();
  });
});
