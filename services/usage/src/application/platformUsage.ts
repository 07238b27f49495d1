import { randomUUID } from 'node:crypto';
import { API_REQUEST_ITEM_TYPE, type BillingEvent, type CurbInventoryCounted, type ExportJobCompleted, type InvoiceFinalized, type UsageItem } from '@curbmap/contracts';
import type { StoredEvent } from '@curbmap/eventsourcing';
import type { Running, ServiceContext } from '@curbmap/service-kit';
import { ingestUsage } from './usageCommands.ts';

/** One request made with an organization's key, as the gateway saw it. */
export interface ApiRequest {
  projectId: string | null;
  keyId: string;
  route: string;
  status: number;
  at: Date;
}

/**
 * The platform's own usage of API requests, tallied in memory and ingested every second (or once an
 * organization has 100 tallies), so that measuring adds almost nothing to a request. A tally counts the requests
 * of one project, key, route and status within one second (`data.requests`; its time is its first request's):
 * at 2,000 requests a second that is one item a second, not 2,000 items with an id each to store, claim and roll
 * up. What is buffered when the process is killed is not counted: these are the platform's measurements, never
 * a customer's events, and a lost second of request counts errs in the customer's favour.
 */
export class ApiRequestRecorder {
  private buffers = new Map<string, Map<string, UsageItem & { data: { requests: number } }>>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private readonly ctx: ServiceContext;

  constructor(ctx: ServiceContext, flushIntervalMs = 1000) {
    this.ctx = ctx;
    this.timer = setInterval(() => void this.flush(), flushIntervalMs);
    this.timer.unref();
  }

  record(organizationId: string, request: ApiRequest): void {
    let tallies = this.buffers.get(organizationId);
    if (!tallies) this.buffers.set(organizationId, (tallies = new Map()));
    const key = `${Math.floor(request.at.getTime() / 1000)}|${request.projectId}|${request.keyId}|${request.status}|${request.route}`;
    const tally = tallies.get(key);
    if (tally) {
      tally.data.requests += 1;
      return;
    }
    tallies.set(key, { id: randomUUID(), type: API_REQUEST_ITEM_TYPE, projectId: request.projectId, time: request.at.toISOString(), data: { keyId: request.keyId, route: request.route, status: request.status, requests: 1 } });
    if (tallies.size >= 100) void this.flush();
  }

  /** Ingests what is buffered; resolves when it is durable. */
  flush(): Promise<void> {
    const buffers = this.buffers;
    this.buffers = new Map();
    this.flushing = this.flushing.then(async () => {
      for (const [organizationId, tallies] of buffers) {
        const items = [...tallies.values()];
        const meta = { commandId: randomUUID(), now: this.ctx.now().toISOString(), organizationId };
        await ingestUsage(this.ctx, meta, { items, restrictedTo: null, source: 'platform' }).catch((err) => this.ctx.log.error({ err, organizationId, items: items.length }, 'recording API usage failed'));
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

/** Seats (from billing), invoices issued (from the invoice service), exports (rows, bytes) and curb zones mapped, measured from their events. */
export function startPlatformUsage(ctx: ServiceContext): Running {
  const types = ['billing.subscription.activated', 'billing.subscription.renewed', 'billing.subscription.seats_changed', 'invoice.invoice.finalized', 'export.job.completed', 'curbs.inventory.counted'];
  const sub = ctx.subscriptions.subscribe('usage.platform-usage.v1', { types }, async (batch) => {
    const byOrg = new Map<string, UsageItem[]>();
    for (const stored of batch) {
      const item = itemOf(stored);
      if (item) byOrg.set(stored.organizationId, [...(byOrg.get(stored.organizationId) ?? []), item]);
    }
    for (const [organizationId, items] of byOrg) {
      // The command id derives from the batch's last event: a redelivered batch is recognised (and its ids are claimed).
      await ingestUsage(ctx, { commandId: `platform-usage:${batch[batch.length - 1]!.id}:${organizationId}`, now: batch[batch.length - 1]!.occurredAt, organizationId }, { items, restrictedTo: null, source: 'platform' });
    }
  });
  return { stop: () => sub.stop() };
}

function itemOf(stored: StoredEvent): UsageItem | null {
  const event = { type: stored.type, data: stored.data } as BillingEvent | InvoiceFinalized | ExportJobCompleted | CurbInventoryCounted;
  const base = { id: stored.id, projectId: null, time: stored.occurredAt };
  switch (event.type) {
    case 'billing.subscription.activated':
    case 'billing.subscription.renewed':
      return { ...base, type: 'curbmap.billing.seats', data: { seats: event.data.seats } };
    case 'billing.subscription.seats_changed':
      return event.data.effective === 'now' ? { ...base, type: 'curbmap.billing.seats', data: { seats: event.data.to } } : null;
    case 'curbs.inventory.counted':
      return { ...base, projectId: stored.projectId ?? null, type: 'curbmap.curbs.counted', data: { zones: event.data.zones } };
    case 'export.job.completed':
      return { ...base, projectId: stored.projectId ?? null, type: 'curbmap.export.completed', data: { jobId: stored.streamId.slice('export-'.length), rows: event.data.manifest.rows, bytes: event.data.manifest.bytes } };
    case 'invoice.invoice.finalized':
      return { ...base, type: 'curbmap.invoice.issued', data: { invoiceId: event.data.invoiceId, amountDue: event.data.amountDue } };
    default:
      return null;
  }
}
