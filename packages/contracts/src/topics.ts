/**
 * The log's stream categories and the event types each carries. In distributed mode every category is one Kafka
 * topic, `curbmap.<category>`, keyed by stream id (a stream's events stay in order in one partition). Downstream
 * systems consume these topics, so this list is a public contract: the AsyncAPI document is generated from it
 * and the event schemas, and a test checks that the platform appends nothing it does not name.
 */
export interface StreamCategory {
  /** The service whose commands write these streams. */
  service: 'gateway' | 'billing' | 'usage' | 'export' | 'invoice';
  description: string;
  /** How the stream id (the message key) is made. */
  streamId: string;
  types: readonly string[];
}

const payment = ['billing.payment.succeeded', 'billing.payment.invoice_linked', 'billing.payment.failed', 'billing.payment.requires_action', 'billing.payment.refunded', 'billing.refund.requested', 'billing.refund.submitted', 'billing.refund.failed'];

export const streamCategories = {
  portal: { service: 'gateway', description: 'Dashboard sign-in links used (once each) and sessions signed out.', streamId: 'portal-link-<linkId> | portal-session-<sessionId>', types: ['tenancy.portal_link.used', 'tenancy.portal_session.ended'] },
  organization: { service: 'gateway', description: 'Organizations, their projects and API keys.', streamId: 'organization-<organizationId>', types: ['tenancy.organization.created', 'tenancy.project.created', 'tenancy.api_key.issued', 'tenancy.api_key.revoked'] },
  subscription: {
    service: 'billing',
    description: "An organization's annual subscription: activation, seats and plan changes (prorated), renewal, cancellation, dunning and its mirror at the payment provider.",
    streamId: 'subscription-<organizationId>',
    types: [
      'billing.subscription.created',
      'billing.subscription.activated',
      'billing.subscription.seats_changed',
      'billing.subscription.plan_changed',
      'billing.subscription.renewed',
      'billing.subscription.cancellation_scheduled',
      'billing.subscription.cancellation_unscheduled',
      'billing.subscription.canceled',
      'billing.subscription.past_due',
      'billing.subscription.recovered',
      'billing.subscription.unpaid',
      'billing.subscription.provider_requested',
      'billing.subscription.provider_confirmed',
      'billing.subscription.provider_failed',
      'billing.subscription.provider_synced',
    ],
  },
  payment: { service: 'billing', description: 'A card payment at the provider and its refunds.', streamId: 'payment-<paymentId>', types: payment },
  receivable: {
    service: 'billing',
    description: 'What an organization owes on one invoice collected by bank transfer: payments recorded by the operator, credits, write-offs.',
    streamId: 'receivable-<invoiceId>',
    types: ['billing.receivable.opened', 'billing.payment.succeeded', 'billing.payment.refunded', 'billing.receivable.credited', 'billing.receivable.written_off', 'billing.receivable.canceled', 'billing.remittance_advice.received'],
  },
  credit: { service: 'billing', description: "An organization's account credit.", streamId: 'credit-<organizationId>', types: ['billing.credit.granted', 'billing.credit.applied'] },
  billingterms: { service: 'billing', description: 'Payment terms the operator set for an organization.', streamId: 'billingterms-<organizationId>', types: ['billing.terms.set'] },
  customer: { service: 'billing', description: "An organization's customer at the payment provider.", streamId: 'customer-<organizationId>', types: ['billing.customer.linked'] },
  stripeevent: { service: 'billing', description: 'A verified Stripe webhook delivery, stored once before it is acknowledged.', streamId: 'stripeevent-<stripeEventId>', types: ['billing.stripe_event.received'] },
  usage: { service: 'usage', description: 'Accepted usage events, one stored event per accepted batch.', streamId: 'usage-<organizationId>', types: ['usage.events.recorded'] },
  usagefix: { service: 'usage', description: 'A void or an amendment of one usage event.', streamId: 'usagefix-<uuid of organization and event id>', types: ['usage.event.corrected'] },
  usageperiod: { service: 'usage', description: 'Closed usage periods with their final totals, and adjustments that arrived after a close.', streamId: 'usageperiod-<organizationId>', types: ['usage.period.closed', 'usage.adjustment.recorded'] },
  usagesettings: { service: 'usage', description: "Usage settings the operator set for an organization (the period's grace).", streamId: 'usagesettings-<organizationId>', types: ['usage.settings.set'] },
  meters: { service: 'usage', description: "An organization's meters.", streamId: 'meters-<organizationId>', types: ['usage.meter.defined'] },
  quota: { service: 'usage', description: 'Quota thresholds reached, once per period, meter and threshold.', streamId: 'quota-<organizationId>', types: ['usage.quota.threshold_reached'] },
  curbs: { service: 'export', description: "A project's curb inventory (CDS zones).", streamId: 'curbs-<projectId>', types: ['curbs.imported', 'curbs.zone.upserted', 'curbs.zone.deleted'] },
  curbevents: { service: 'export', description: "Curb events reported for a project's zones.", streamId: 'curbevents-<projectId>', types: ['curbs.events.recorded'] },
  curbcount: { service: 'export', description: "Counts of a project's curb inventory, for usage.", streamId: 'curbcount-<projectId>', types: ['curbs.inventory.counted'] },
  export: { service: 'export', description: 'An export job: requested, started, progress, completed or failed, its artifact deleted when it expires.', streamId: 'export-<jobId>', types: ['export.job.requested', 'export.job.started', 'export.job.progressed', 'export.job.completed', 'export.job.failed', 'export.artifact.deleted'] },
  exportschedule: { service: 'export', description: 'A recurring export.', streamId: 'exportschedule-<scheduleId>', types: ['export.schedule.created', 'export.schedule.ran', 'export.schedule.deleted'] },
  invoice: {
    service: 'invoice',
    description: 'An invoice: drafted, finalized with its number, its PDF stored, credit notes, voided or uncollectible.',
    streamId: 'invoice-<invoiceId>',
    types: ['invoice.invoice.drafted', 'invoice.invoice.finalized', 'invoice.pdf.stored', 'invoice.credit_note.issued', 'invoice.invoice.voided', 'invoice.invoice.marked_uncollectible'],
  },
  usagecredit: { service: 'invoice', description: 'Usage adjustments that no invoice could credit any more, reported to the operator.', streamId: 'usagecredit-<organizationId>', types: ['invoice.adjustment.uncredited'] },
  invoicenumbers: { service: 'invoice', description: "An organization's gap-free invoice numbers of one year.", streamId: 'invoicenumbers-<organizationId>-<year>', types: ['invoice.number.assigned'] },
  plan: { service: 'billing', description: 'A plan of the catalogue and its price versions, set by the platform operator.', streamId: 'plan-<planId>', types: ['billing.plan.versioned', 'billing.plan.renewal_policy_set'] },
  contract: { service: 'billing', description: "An organization's negotiated contract and its versions, set by the platform operator.", streamId: 'contract-<organizationId>', types: ['billing.contract.set'] },
  dunning: { service: 'invoice', description: "An organization's payment reminder schedule.", streamId: 'dunning-<organizationId>', types: ['invoice.dunning_schedule.set'] },
  invoicetax: { service: 'invoice', description: "An organization's tax settings.", streamId: 'invoicetax-<organizationId>', types: ['invoice.tax_settings.set'] },
  invoicetemplate: { service: 'invoice', description: "An organization's invoice template.", streamId: 'invoicetemplate-<organizationId>', types: ['invoice.template.set'] },
  billingdetails: { service: 'invoice', description: "An organization's billing details (address, PO number, tax id).", streamId: 'billingdetails-<organizationId>', types: ['invoice.billing_details.set'] },
  webhookendpoint: { service: 'invoice', description: "A customer's webhook endpoint.", streamId: 'webhookendpoint-<endpointId>', types: ['webhook.endpoint.created', 'webhook.endpoint.secret_rotated', 'webhook.endpoint.disabled', 'webhook.endpoint.enabled', 'webhook.endpoint.deleted'] },
  webhookmessage: { service: 'invoice', description: 'An outgoing webhook message and its delivery attempts.', streamId: 'webhookmessage-<messageId>', types: ['webhook.message.created', 'webhook.attempt.recorded', 'webhook.message.redelivery_requested'] },
  notification: { service: 'invoice', description: 'A notification to an organization, sent once per cause.', streamId: 'notification-<notificationId>', types: ['notification.requested', 'notification.email.sent'] },
} as const satisfies Record<string, StreamCategory>;

export type StreamCategoryName = keyof typeof streamCategories;

/** The Kafka topic of a category. */
export const topicOf = (category: string) => `curbmap.${category}`;

/** Does the category carry this type? Unknown categories carry nothing. */
export function categoryCarries(category: string, type: string): boolean {
  return (streamCategories as Record<string, StreamCategory>)[category]?.types.includes(type) ?? false;
}

/** The categories that carry any of these types: the topics a subscription filtered by types alone reads. */
export function categoriesOfTypes(types: readonly string[]): string[] {
  return Object.entries(streamCategories as Record<string, StreamCategory>)
    .filter(([, c]) => c.types.some((t) => types.includes(t)))
    .map(([name]) => name);
}
