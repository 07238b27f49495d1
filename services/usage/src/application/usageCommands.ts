import { createRequestAjv, usageItemSchema, type MeterDefinition, type UsageItem } from '@curbmap/contracts';
import { ClaimConflictError, eventIdFor, NotFoundError, ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { runCommand, type ServiceContext } from '@curbmap/service-kit';
import { builtInMeters } from '../domain/meters/builtInMeters.ts';
import { meterDecider, metersStream } from '../domain/meters/meterDecider.ts';
import { correctionDecider, correctionStream } from '../domain/corrections/correctionDecider.ts';
import { unmeasurable } from '../domain/rollup/rollup.ts';
import { usageCollections as C, type MeterSetView, type UsageOrganizationView } from '../projections/usageProjections.ts';

/** Deduplication on (organization, client id): a claim with the batch that recorded it, kept for good (≥ 35 days). */
export const usageClaim = (organizationId: string, eventId: string) => `usage:${organizationId}:${eventId}`;
export const usageStream = (organizationId: string) => `usage-${organizationId}`;
/** Appends tried when another request claims some of a batch's ids meanwhile. */
const MAX_ATTEMPTS = 5;

const MAX_AGE_MS = 35 * 86_400_000;
const MAX_AHEAD_MS = 5 * 60_000;
const validateItem = createRequestAjv('body').compile(usageItemSchema);
const builtInTypes = new Set(builtInMeters.map((m) => m.eventType));

export interface IngestOutcome {
  accepted: { index: number; id: string }[];
  duplicates: { index: number; id: string }[];
  rejected: { index: number; id: string | null; reason: string }[];
}

/** The built-in meters and the organization's own (one document read: this is on every ingestion's path). */
export async function metersOf(ctx: ServiceContext, organizationId: string): Promise<MeterDefinition[]> {
  const own = (await ctx.readStore.get<MeterSetView>(C.meterSets, organizationId))?.meters ?? [];
  return [...builtInMeters, ...[...own].sort((a, b) => a.key.localeCompare(b.key))];
}

export async function organizationZone(ctx: ServiceContext, organizationId: string): Promise<string> {
  return (await ctx.readStore.get<UsageOrganizationView>(C.organizations, organizationId))?.timeZone ?? 'UTC';
}

/**
 * Ingests a batch: each item is checked on its own (shape, project, time window, a meter that measures it),
 * duplicates (within the batch or recorded before) are reported, and the accepted ones are appended as one
 * event that claims their ids in the same transaction, so a retry, or a race with another request carrying
 * the same ids, never counts an item twice. Durable before the answer.
 */
export async function ingestUsage(ctx: ServiceContext, meta: CommandMetadata, input: { items: unknown[]; restrictedTo: string | null; source: 'client' | 'platform' }): Promise<IngestOutcome> {
  const { organizationId } = meta;
  const now = Date.parse(meta.now);
  const meters = await metersOf(ctx, organizationId);
  const outcome: IngestOutcome = { accepted: [], duplicates: [], rejected: [] };
  const candidates: { index: number; item: UsageItem }[] = [];
  const seen = new Set<string>();
  const projects = new Map<string, boolean>();
  for (const [index, raw] of input.items.entries()) {
    // A large batch yields now and then: other requests are not held up by its checks.
    if (index > 0 && index % 250 === 0) await new Promise((r) => setImmediate(r));
    const withTime = raw && typeof raw === 'object' && !Array.isArray(raw) && !('time' in raw) ? { ...raw, time: meta.now } : raw;
    const id = typeof (raw as { id?: unknown } | null)?.id === 'string' ? (raw as { id: string }).id : null;
    const reject = (reason: string) => void outcome.rejected.push({ index, id, reason });
    if (!validateItem(withTime)) {
      reject((validateItem.errors ?? []).map((e) => `${e.instancePath || 'item'} ${e.message}`).join('; '));
      continue;
    }
    const item = { ...(withTime as UsageItem), time: new Date((withTime as UsageItem).time).toISOString() };
    const at = Date.parse(item.time);
    if (at < now - MAX_AGE_MS) {
      reject('time is more than 35 days old');
      continue;
    }
    if (at > now + MAX_AHEAD_MS) {
      reject('time is more than 5 minutes in the future');
      continue;
    }
    if (input.restrictedTo && item.projectId !== input.restrictedTo) {
      reject(`this API key is restricted to project ${input.restrictedTo}`);
      continue;
    }
    if (item.projectId === null) {
      if (input.source === 'client') {
        reject('projectId is required');
        continue;
      }
    } else {
      if (!projects.has(item.projectId)) projects.set(item.projectId, (await ctx.readStore.get(C.projects, item.projectId))?.organizationId === organizationId);
      if (!projects.get(item.projectId)) {
        reject(`project ${item.projectId} not found`);
        continue;
      }
    }
    // The platform's own usage (what plans price) is measured by the platform only, never reported by a client.
    if (input.source === 'client' && builtInTypes.has(item.type)) {
      reject(`events of type ${item.type} are the platform's own measurements`);
      continue;
    }
    const measuring = meters.filter((m) => m.eventType === item.type);
    if (measuring.length === 0) {
      reject(`no meter measures events of type ${item.type}; define one with POST /v1/meters`);
      continue;
    }
    const unfit = measuring.map((m) => unmeasurable(m, item.data)).find((r) => r !== null);
    if (unfit) {
      reject(unfit);
      continue;
    }
    if (seen.has(item.id)) {
      outcome.duplicates.push({ index, id: item.id });
      continue;
    }
    seen.add(item.id);
    candidates.push({ index, item });
  }
  if (candidates.length === 0) return outcome;
  const timeZone = await organizationZone(ctx, organizationId);
  // The batch event ids this command may have appended (its attempts): ids it claimed itself are its own.
  const own = new Set(Array.from({ length: MAX_ATTEMPTS }, (_, k) => eventIdFor(k === 0 ? meta.commandId : `${meta.commandId}:attempt-${k + 1}`, 0)));
  for (let attempt = 1; ; attempt++) {
    const claimed = await ctx.store.claimed(candidates.map((c) => usageClaim(organizationId, c.item.id)));
    const fresh = candidates.filter((c) => !claimed.has(usageClaim(organizationId, c.item.id)));
    const taken = candidates.filter((c) => claimed.has(usageClaim(organizationId, c.item.id)));
    // The same request again (its answer lost to a crash, its Idempotency-Key's answer not kept): what it
    // recorded before is accepted, as the first answer said, not reported as duplicates of itself.
    const mine = await claimedBy(ctx, own, new Set(taken.map((c) => claimed.get(usageClaim(organizationId, c.item.id))!)));
    const earlier = taken.filter((c) => mine.has(claimed.get(usageClaim(organizationId, c.item.id))!));
    const dupes = taken.filter((c) => !mine.has(claimed.get(usageClaim(organizationId, c.item.id))!));
    outcome.accepted.push(...earlier.map(({ index, item }) => ({ index, id: item.id })));
    try {
      if (fresh.length > 0) {
        // The event id derives from the command (Idempotency-Key), and the attempt: a retried request replays.
        const id = eventIdFor(attempt === 1 ? meta.commandId : `${meta.commandId}:attempt-${attempt}`, 0);
        await ctx.store.append(usageStream(organizationId), [{ id, type: 'usage.events.recorded', data: { items: fresh.map((c) => c.item), timeZone }, occurredAt: meta.now, organizationId, correlationId: meta.correlationId ?? meta.commandId }], {
          expectedVersion: 'any',
          claims: fresh.map((c) => usageClaim(organizationId, c.item.id)),
        });
      }
      outcome.accepted.push(...fresh.map(({ index, item }) => ({ index, id: item.id })));
      outcome.accepted.sort((a, b) => a.index - b.index);
      outcome.duplicates.push(...dupes.map(({ index, item }) => ({ index, id: item.id })));
      outcome.duplicates.sort((a, b) => a.index - b.index);
      return outcome;
    } catch (err) {
      // Another request claimed some of these ids meanwhile: look again (they are duplicates now).
      if (!(err instanceof ClaimConflictError) || attempt >= MAX_ATTEMPTS) throw err;
      outcome.accepted.length = 0;
    }
  }
}

/** Of these claim positions, those where one of these events (a command's own batches) was appended. */
async function claimedBy(ctx: ServiceContext, events: Set<string>, positions: Set<string>): Promise<Set<string>> {
  const found = new Set<string>();
  for (const position of positions) if (events.has((await ctx.store.readAt(position))?.id ?? '')) found.add(position);
  return found;
}

/** The item as a batch recorded it (the claim names the batch's position). */
async function recordedItem(ctx: ServiceContext, organizationId: string, eventId: string): Promise<UsageItem | null> {
  const position = (await ctx.store.claimed([usageClaim(organizationId, eventId)])).get(usageClaim(organizationId, eventId));
  if (!position) return null;
  const stored = await ctx.store.readAt(position);
  if (stored?.type !== 'usage.events.recorded' || stored.organizationId !== organizationId) return null;
  return (stored.data as { items: UsageItem[] }).items.find((i) => i.id === eventId) ?? null;
}

export async function correctUsage(ctx: ServiceContext, meta: CommandMetadata, eventId: string, change: { type: 'void' } | { type: 'amend'; data: Record<string, unknown> }, restrictedTo: string | null = null) {
  const { organizationId } = meta;
  const original = await recordedItem(ctx, organizationId, eventId);
  // A key restricted to a project corrects that project's events only (an event never changes project).
  if (restrictedTo && original?.projectId !== restrictedTo) throw new NotFoundError('usage event');
  // The platform's own measurements (what plans price) are corrected by nobody else, as ingestion refuses them.
  if (original && builtInTypes.has(original.type)) throw new ValidationError(`events of type ${original.type} are the platform's own measurements: they cannot be voided or amended`);
  const timeZone = await organizationZone(ctx, organizationId);
  if (change.type === 'amend' && original) {
    const meters = (await metersOf(ctx, organizationId)).filter((m) => m.eventType === original.type);
    const unfit = meters.map((m) => unmeasurable(m, change.data)).find((r) => r !== null);
    if (unfit) throw new ValidationError(unfit);
  }
  const data = { eventId, original, timeZone };
  const command = change.type === 'void' ? { type: 'VoidUsageEvent' as const, data, metadata: meta } : { type: 'AmendUsageEvent' as const, data: { ...data, data: change.data }, metadata: meta };
  return runCommand(ctx, correctionDecider, correctionStream(organizationId, eventId), command);
}

export function defineMeter(ctx: ServiceContext, meta: CommandMetadata, meter: MeterDefinition) {
  return runCommand(ctx, meterDecider, metersStream(meta.organizationId), { type: 'DefineMeter', data: meter, metadata: meta });
}
