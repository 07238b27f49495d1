import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('configuration', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({})).toEqual({ port: 8080, host: '0.0.0.0', dataDir: './data', logLevel: 'info', adminToken: null, downloadSecret: null, rateLimitPerMinute: 6000, unauthenticatedPerMinute: 60, seedDemo: false, publicUrl: null, trustProxy: false, plansFile: null, billingSchedulerIntervalMs: 60_000, usageCloseIntervalMs: 60_000, renewalNoticeDays: [30, 7], stripe: null, smtpUrl: null, mailFrom: 'CurbMap Billing <billing@curbmap.localhost>', mailReplyTo: 'billing-support@curbmap.localhost', webhookAllowPrivateNetworks: false, databaseUrl: null, mongoUrl: null, kurrentdbUrl: null, s3: null, kafkaBrokers: null, kafkaPartitions: 6, serviceUrls: {}, internalSecret: null, remittance: null, clockFile: null });
  });

  it('reads TRUST_PROXY as fastify takes it', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(() => loadConfig({ TRUST_PROXY: 'yes please' })).toThrow(/TRUST_PROXY/);
  });

  it('reads the operator\'s bank details all or nothing, with an IBAN whose check digits hold', () => {
    const bank = { CURBMAP_REMITTANCE_BANK: 'First Republic of Curbs', CURBMAP_REMITTANCE_ACCOUNT_HOLDER: 'CurbMap, Inc.' };
    expect(loadConfig({ ...bank, CURBMAP_REMITTANCE_IBAN: 'DE89370400440532013000', CURBMAP_REMITTANCE_SWIFT_BIC: 'COBADEFFXXX' }).remittance).toEqual({
      bank: 'First Republic of Curbs', accountHolder: 'CurbMap, Inc.', iban: 'DE89 3704 0044 0532 0130 00', accountNumber: null, routingNumber: null, swiftBic: 'COBADEFFXXX', reference: 'the invoice number {number}',
    });
    expect(loadConfig({ ...bank, CURBMAP_REMITTANCE_ACCOUNT_NUMBER: '000123456789', CURBMAP_REMITTANCE_ROUTING_NUMBER: '121000248', CURBMAP_REMITTANCE_REFERENCE: 'CM {number}' }).remittance).toMatchObject({ accountNumber: '000123456789', routingNumber: '121000248', reference: 'CM {number}' });
    expect(() => loadConfig({ ...bank, CURBMAP_REMITTANCE_IBAN: 'DE89370400440532013001' })).toThrow(/check digits/);
    expect(() => loadConfig(bank)).toThrow(/IBAN or CURBMAP_REMITTANCE_ACCOUNT_NUMBER/);
    expect(() => loadConfig({ CURBMAP_REMITTANCE_IBAN: 'DE89370400440532013000' })).toThrow(/needs CURBMAP_REMITTANCE_BANK/);
    expect(() => loadConfig({ ...bank, CURBMAP_REMITTANCE_IBAN: 'DE89370400440532013000', CURBMAP_REMITTANCE_SWIFT_BIC: 'nope' })).toThrow(/SWIFT_BIC/);
  });

  it('reads and converts the environment', () => {
    const config = loadConfig({ PORT: '9090', CURBMAP_DATA_DIR: '/var/lib/curbmap', LOG_LEVEL: 'debug', CURBMAP_SEED_DEMO: 'false', CURBMAP_ADMIN_TOKEN: 'x'.repeat(32), USAGE_CLOSE_INTERVAL_SECONDS: '86400', CURBMAP_RENEWAL_NOTICE_DAYS: '7,60,7' });
    expect(config).toMatchObject({ port: 9090, dataDir: '/var/lib/curbmap', logLevel: 'debug', seedDemo: false, adminToken: 'x'.repeat(32), usageCloseIntervalMs: 86_400_000, renewalNoticeDays: [60, 7] });
    expect(() => loadConfig({ CURBMAP_RENEWAL_NOTICE_DAYS: '0,7' })).toThrow(/CURBMAP_RENEWAL_NOTICE_DAYS/);
    expect(() => loadConfig({ CURBMAP_RENEWAL_NOTICE_DAYS: '365' })).toThrow(/at most 364/);
  });

  it('reads SERVICE_URLS with several processes for a service, in the order given', () => {
    const config = loadConfig({ SERVICE_URLS: 'usage=http://127.0.0.1:4103,billing=http://127.0.0.1:4101,usage=http://10.0.0.2:4103', CURBMAP_INTERNAL_SECRET: 's'.repeat(32) });
    expect(config.serviceUrls).toEqual({ usage: ['http://127.0.0.1:4103', 'http://10.0.0.2:4103'], billing: ['http://127.0.0.1:4101'] });
  });

  it('reads the mail server and the webhook network policy', () => {
    expect(loadConfig({ SMTP_URL: 'smtps://u:p@mail.example:465', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' })).toMatchObject({ smtpUrl: 'smtps://u:p@mail.example:465', webhookAllowPrivateNetworks: true });
    expect(() => loadConfig({ SMTP_URL: 'mail.example:25' })).toThrow(/SMTP_URL/);
  });

  it('stops with every problem listed when the environment is malformed', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', CURBMAP_ADMIN_TOKEN: 'short', RATE_LIMIT_PER_MINUTE: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'LOG_LEVEL', 'CURBMAP_ADMIN_TOKEN', 'RATE_LIMIT_PER_MINUTE']) expect(message).toContain(name);
  });

  it('refuses half a Stripe set-up, either half', () => {
    expect(() => loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_abc' })).toThrow('STRIPE_WEBHOOK_SECRET is set without STRIPE_SECRET_KEY');
    expect(() => loadConfig({ STRIPE_SECRET_KEY: 'sk_test_abc' })).toThrow('STRIPE_SECRET_KEY is set without STRIPE_WEBHOOK_SECRET');
    expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_test_abc', STRIPE_WEBHOOK_SECRET: 'whsec_abc' }).stripe).toEqual({ secretKey: 'sk_test_abc', webhookSecret: 'whsec_abc', apiBase: null });
  });
});
