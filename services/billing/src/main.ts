// The billing service in its own process (distributed mode): node services/billing/dist/main.js
import { runServiceMain } from '@curbmap/service-kit';
import { setUpBilling } from './billingSetup.ts';

await runServiceMain((config) => setUpBilling({ plansFile: config.plansFile, billingSchedulerIntervalMs: config.billingSchedulerIntervalMs, renewalNoticeDays: config.renewalNoticeDays, stripe: config.stripe, stripeWebhookSecret: config.stripe?.webhookSecret ?? null }).module);
