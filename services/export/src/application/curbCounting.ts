import { deterministicUuid } from '@curbmap/eventsourcing';
import { writeOf, type Running, type ServiceContext } from '@curbmap/service-kit';
import { curbCountsCollection, curbInventoryProjection, type CurbCountsView } from '../projections/curbInventoryProjection.ts';

export const curbCountStream = (projectId: string) => `curbcount-${projectId}`;

/**
 * How many curb zones each project maps, after each change of its inventory: `curbs.inventory.counted`, which
 * the usage service measures (meter curb_zones). One count per project per batch of changes (an import of a
 * hundred chunks counts once), read from the inventory read model once it shows the batch.
 */
export function startCurbCounting(ctx: ServiceContext): Running {
  const sub = ctx.subscriptions.subscribe('export.curb-counting.v1', { types: ['curbs.imported', 'curbs.zone.upserted', 'curbs.zone.deleted'] }, async (batch) => {
    const last = new Map<string, (typeof batch)[number]>();
    for (const stored of batch) if (stored.projectId) last.set(stored.projectId, stored);
    for (const [projectId, stored] of last) {
      await ctx.subscriptions.list().find((s) => s.name === curbInventoryProjection.name)?.waitForWrite(writeOf(stored), 60_000);
      const counts = await ctx.readStore.get<CurbCountsView>(curbCountsCollection, projectId);
      const zones = counts?.organizationId === stored.organizationId ? counts.counts.zones : 0;
      const id = deterministicUuid(`curb-count:${stored.id}`);
      // The id derives from the change counted: a redelivered batch appends nothing new.
      await ctx.store.append(curbCountStream(projectId), [{ id, type: 'curbs.inventory.counted', data: { zones }, occurredAt: stored.occurredAt, organizationId: stored.organizationId, projectId, correlationId: stored.correlationId, causationId: stored.id }], { expectedVersion: 'any' });
    }
    // The counts come from the read model: the chunks' zones (a megabyte of JSON each) are left unread. Envelopes
    // weigh nothing, so a batch is bounded in events: its wait for the inventory is for 50 chunks at most.
  }, { envelopeOnly: true, batchSize: 50 });
  return { stop: () => sub.stop() };
}
