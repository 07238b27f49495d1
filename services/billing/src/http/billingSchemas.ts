import { collectionMethods } from '@curbmap/contracts';
import { meters } from '@curbmap/contracts';

const instant = { type: 'string', format: 'date-time' } as const;
const money = { type: 'object', additionalProperties: { type: 'integer' }, description: 'Minor units by ISO 4217 currency' } as const;
const line = {
  type: 'object',
  properties: { description: { type: 'string' }, quantity: { type: 'integer' }, unitAmount: { type: 'integer' }, amount: { type: 'integer' }, periodStart: instant, periodEnd: instant },
} as const;

export const billingSchemas = [
  {
    $id: 'Plan',
    type: 'object',
    required: ['id', 'name', 'interval', 'seatPrices', 'includedUsage', 'overage'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      description: { type: 'string' },
      interval: { type: 'string', enum: ['year'] },
      tier: { type: 'integer' },
      seatPrices: money,
      includedUsage: { type: 'object', properties: Object.fromEntries(meters.map((m) => [m, { type: 'integer' }])) },
      overage: { type: 'object', properties: Object.fromEntries(meters.map((m) => [m, { type: 'object', properties: { unitSize: { type: 'integer' }, prices: money } }])) },
      version: { type: 'integer', description: 'The price version: the plan as sold from effectiveFrom on, until the next version' },
      effectiveFrom: { type: 'string', format: 'date-time' },
    },
  },
  {
    $id: 'Subscription',
    type: 'object',
    required: ['id', 'status', 'planId', 'seats', 'currency', 'unitAmount', 'annualAmount', 'collectionMethod', 'currentPeriodStart', 'currentPeriodEnd', 'cancelAtPeriodEnd'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      status: { type: 'string', enum: ['pending', 'incomplete', 'active', 'past_due', 'canceled', 'unpaid'], description: 'pending: asked of Stripe, not confirmed yet; incomplete: waiting for the first card payment' },
      planId: { type: 'string' },
      planName: { type: 'string' },
      seats: { type: 'integer' },
      currency: { type: 'string' },
      unitAmount: { type: 'integer', description: 'Per seat per year, minor units' },
      annualAmount: { type: 'integer' },
      collectionMethod: { type: 'string', enum: [...collectionMethods] },
      daysUntilDue: { type: ['integer', 'null'] },
      poNumber: { type: ['string', 'null'] },
      timeZone: { type: 'string' },
      planVersion: { type: ['integer', 'null'], description: "The plan's price version the current year was sold or renewed at (null: sold before price versions)" },
      currentPeriodStart: instant,
      currentPeriodEnd: instant,
      cancelAtPeriodEnd: { type: 'boolean' },
      pendingChange: {
        anyOf: [{ type: 'null' }, { type: 'object', properties: { seats: { type: 'integer' }, planId: { type: 'string' }, effectiveAt: instant } }],
      },
      provider: { type: 'string', enum: ['manual', 'stripe'] },
      providerSubscriptionId: { type: ['string', 'null'] },
      providerRequest: {
        description: 'A change sent to the payment provider and not answered yet',
        anyOf: [{ type: 'null' }, { type: 'object', properties: { action: { type: 'string' }, seats: { type: 'integer' }, planId: { type: 'string' }, effective: { type: 'string' } } }],
      },
      paymentConfirmation: {
        description: 'While incomplete: what Stripe.js needs to confirm the first payment (SCA), e.g. stripe.confirmPayment({clientSecret})',
        anyOf: [{ type: 'null' }, { type: 'object', properties: { clientSecret: { type: 'string' }, type: { type: 'string' }, invoiceId: { type: 'string' } } }],
      },
      createdAt: instant,
      updatedAt: instant,
    },
  },
  {
    $id: 'SubscriptionChange',
    type: 'object',
    description: 'What a change did: charged now (prorated) or scheduled for the renewal',
    properties: { effective: { type: 'string', enum: ['now', 'renewal', 'none'] }, effectiveAt: { anyOf: [instant, { type: 'null' }] }, amount: { type: 'integer' }, currency: { type: 'string' }, lines: { type: 'array', items: line } },
  },
  {
    $id: 'Payment',
    type: 'object',
    required: ['id', 'amount', 'currency', 'status'],
    properties: {
      id: { type: 'string' },
      invoiceId: { type: ['string', 'null'] },
      amount: { type: 'integer' },
      appliedAmount: { type: 'integer' },
      excessAmount: { type: 'integer', description: 'Received beyond what the invoice owed (over-payment)' },
      amountRemaining: { type: 'integer', description: 'Still owed on the invoice after this payment (under-payment)' },
      currency: { type: 'string' },
      method: { type: 'string' },
      reference: { type: ['string', 'null'] },
      receivedAt: instant,
      status: { type: 'string' },
      refundedAmount: { type: 'integer' },
      provider: { type: 'string' },
    },
  },
  {
    $id: 'RemittanceAdvice',
    type: 'object',
    required: ['id', 'invoiceId', 'amount', 'currency', 'reference', 'sentAt'],
    properties: {
      id: { type: 'string' },
      organizationId: { type: 'string' },
      invoiceId: { type: 'string' },
      amount: { type: 'integer' },
      currency: { type: 'string' },
      reference: { type: 'string' },
      sentAt: instant,
      recordedAt: instant,
    },
  },
  {
    $id: 'BillingTerms',
    type: 'object',
    required: ['collectionMethods', 'daysUntilDue'],
    properties: {
      collectionMethods: { type: 'array', items: { type: 'string', enum: ['charge_automatically', 'send_invoice'] } },
      daysUntilDue: { type: 'integer' },
      source: { type: 'string', enum: ['operator', 'default'], description: 'default: nobody set them; the platform defaults apply' },
    },
  },
];
