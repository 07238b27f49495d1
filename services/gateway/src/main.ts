import { join } from 'node:path';
import { pino } from 'pino';
import { SmtpSink } from '@curbmap/invoice';
import { clockOf, configOrExit, loadConfig, openArtifactStore } from '@curbmap/service-kit';
import { seedDemo } from './platform/demoSeed.ts';
import { RemoteService } from './http/remoteService.ts';
import { startEmbeddedPlatform } from './platform/embeddedPlatform.ts';
import { createModules } from './platform/modules.ts';

async function main(): Promise<void> {
  const config = configOrExit(loadConfig);
  const logger = pino({ level: config.logLevel });
  // Without SMTP_URL, mail is kept by a local SMTP sink: nothing leaves the machine, everything can be read.
  const mailDir = join(config.dataDir, 'mail');
  const sink = config.smtpUrl ? null : new SmtpSink(mailDir);
  const smtpUrl = config.smtpUrl ?? (await sink!.listen());
  if (sink) logger.info({ smtpUrl, mailDir }, 'no SMTP_URL: mail goes to the local sink');
  const modules = createModules({
    dataDir: config.dataDir,
    downloadSecret: config.downloadSecret,
    plansFile: config.plansFile,
    billingSchedulerIntervalMs: config.billingSchedulerIntervalMs,
    usageCloseIntervalMs: config.usageCloseIntervalMs,
    renewalNoticeDays: config.renewalNoticeDays,
    stripe: config.stripe,
    stripeWebhookSecret: config.stripe?.webhookSecret ?? null,
    smtpUrl,
    mailFrom: config.mailFrom,
    mailReplyTo: config.mailReplyTo,
    webhookAllowPrivateNetworks: config.webhookAllowPrivateNetworks,
    remittance: config.remittance,
    artifacts: await openArtifactStore(config.dataDir, config.s3),
  });
  const platform = await startEmbeddedPlatform({ dataDir: config.dataDir, logger, modules: modules.all, adminToken: config.adminToken, rateLimitPerMinute: config.rateLimitPerMinute, unauthenticatedPerMinute: config.unauthenticatedPerMinute, publicUrl: config.publicUrl ?? `http://localhost:${config.port}`, trustProxy: config.trustProxy, databaseUrl: config.databaseUrl, mongoUrl: config.mongoUrl, kurrentdbUrl: config.kurrentdbUrl, kafkaBrokers: config.kafkaBrokers, kafkaPartitions: config.kafkaPartitions, remoteServices: Object.fromEntries(Object.entries(config.serviceUrls).map(([name, urls]) => [name, new RemoteService(name, urls, { secret: config.internalSecret!, log: logger })])), ...(config.clockFile ? { now: clockOf(config.clockFile) } : {}) });
  const demo = config.seedDemo ? await seedDemo(platform.ctx, config.dataDir, modules.billingDeps) : null;
  await platform.app.listen({ port: config.port, host: config.host });
  const address = platform.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const base = config.publicUrl ?? `http://localhost:${port}`;
  logger.info({ url: base, docs: `${base}/docs`, dataDir: config.dataDir }, 'curbmap embedded platform listening');

  // Signals are handled before the banner announces the platform: a Ctrl-C right after it still closes cleanly.
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'shutting down');
    platform.close().then(
      async () => {
        await sink?.close();
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const lines = [`CurbMap is running at ${base}`, `  dashboard:     ${base}/  (sign in with an API key, or a link from POST /v1/portal-sessions)`, `  API docs:      ${base}/docs`, `  health:        ${base}/healthz   metrics: ${base}/metrics (admin token)`];
  lines.push(sink ? `  mail:          kept by the local SMTP sink ${smtpUrl}: read it in ${mailDir}/*.eml` : `  mail:          sent through ${new URL(smtpUrl).host}`);
  if (platform.adminTokenGeneratedAt) lines.push(`  admin token:   ${platform.adminToken}`, `                 (shown once; kept in ${platform.adminTokenGeneratedAt})`);
  if (demo) {
    lines.push(`  demo organization ${demo.organizationId}, project ${demo.projectId}`);
    if (demo.subscription) lines.push(`  demo subscription: ${demo.subscription.state.planName}, ${demo.subscription.state.seats} seats, ${demo.subscription.status}, renews ${demo.subscription.periodEnd}`);
    // The key itself is never printed or logged: it stays in the file (0600).
    if (demo.apiKey) lines.push(`  demo API key:  in ${demo.keyFile}`, `  try: curl -H "Authorization: Bearer $(cat ${demo.keyFile})" ${base}/v1/organization`);
  }
  process.stderr.write(`\n${lines.join('\n')}\n\n`);
}

main().catch((err) => {
  process.stderr.write(`curbmap: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
