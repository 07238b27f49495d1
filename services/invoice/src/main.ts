// The invoice service in its own process (distributed mode): node services/invoice/dist/main.js
import { PlanCatalog } from '@curbmap/contracts';
import { openArtifactStore, runServiceMain } from '@curbmap/service-kit';
import { setUpInvoice } from './invoiceSetup.ts';

await runServiceMain(async (config) =>
  setUpInvoice({ dataDir: config.dataDir, artifacts: await openArtifactStore(config.dataDir, config.s3), catalog: PlanCatalog.load(config.plansFile ?? undefined), smtpUrl: config.smtpUrl, mailFrom: config.mailFrom, mailReplyTo: config.mailReplyTo, webhookAllowPrivateNetworks: config.webhookAllowPrivateNetworks, remittance: config.remittance }),
);
