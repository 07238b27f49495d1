import { describe, expect, it } from 'vitest';
import { isPrivateAddress, refuseWebhookUrl, retryAfterMs } from './httpWebhookSender.ts';

describe('webhook targets', () => {
  it('classify loopback, private, link-local, shared and mapped addresses as private; public ones not', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.9', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip'])
      expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false);
  });

  it('refuse every address that is not globally routable: tunnels to IPv4, documentation, benchmarking, reserved', () => {
    for (const a of [
      '2002:7f00:1::1', // 6to4 embedding 127.0.0.1
      '2002:a00:1::1', // 6to4 embedding 10.0.0.1
      '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo
      '64:ff9b::7f00:1', // NAT64 of 127.0.0.1
      '64:ff9b:1::a00:1', // local-use NAT64
      '::127.0.0.1', // IPv4-compatible
      '::ffff:0:7f00:1', // SIIT (RFC 6145)
      '2001:db8::1', '3fff::1', // documentation
      '2001:2::1', // benchmarking
      '100::1', // discard-only
      'fec0::1', // deprecated site-local
      '5f00::1', // segment routing
      '::', 'ff02::1',
      '192.0.2.1', '198.51.100.7', '203.0.113.9', // documentation
      '198.18.0.1', '198.19.255.255', // benchmarking
      '192.0.0.8', '240.0.0.1', '255.255.255.255', '224.0.0.1', '0.1.2.3',
      '::ffff:192.0.2.1', '::ffff:169.254.169.254',
    ]) expect(isPrivateAddress(a), a).toBe(true);
    for (const a of ['2a00:1450:4001:80b::200e', '2001:4860:4860::8888', '1.1.1.1', '203.0.114.1']) expect(isPrivateAddress(a), a).toBe(false);
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
