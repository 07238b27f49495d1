// The invoice service in its own process (distributed mode): node services/invoice/dist/main.js
import { openArtifactStore, runServiceMain } from '@curbmap/service-kit';
import { setUpInvoice } from './invoiceSetup.ts';

await runServiceMain(async (config) =>
  setUpInvoice({ dataDir: config.dataDir, artifacts: await openArtifactStore(config.dataDir, config.s3), smtpUrl: config.smtpUrl, mailFrom: config.mailFrom, mailReplyTo: config.mailReplyTo, webhookAllowPrivateNetworks: config.webhookAllowPrivateNetworks, remittance: config.remittance, renewalNoticeDays: config.renewalNoticeDays }),
);
