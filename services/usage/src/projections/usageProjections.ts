import type { MeterDefinition, OrganizationCreated, ProjectCreated, UsageEvent, UsageItem } from '@curbmap/contracts';
import { updateOnce, type Document, type Projection, type ReadStoreTx, type StoredEvent } from '@curbmap/eventsourcing';
import { builtInMeters } from '../domain/meters/builtInMeters.ts';
import { applyContribution, contributionOf, groupKeyOf, hourBucket, type Contribution } from '../domain/rollup/rollup.ts';

export const usageCollections = {
  organizations: 'usage_organizations',
  projects: 'usage_projects',
  meters: 'usage_meters',
  meterSets: 'usage_meter_sets',
  buckets: 'usage_buckets',
} as const;
const C = usageCollections;

export interface UsageOrganizationView extends Document {
  timeZone: string;
}
export interface MeterView extends Document, MeterDefinition {
  builtIn: boolean;
  definedAt: string | null;
}
/** An organization's own meters in one document, so a projection transaction can read them by id. */
export interface MeterSetView extends Document {
  meters: MeterDefinition[];
}
/** One meter × project × hour of the organization's zone (and, for a meter with groupBy, per group within it). */
export interface UsageBucketView extends Document, Contribution {
  /** Contributions per group key (see groupKeyOf), for meters with groupBy properties. */
  groups?: Record<string, Contribution>;
  meter: string;
  /** Null for the platform's organization-wide measurements. */
  projectId: string | null;
  /** UTC start of the local hour. */
  hour: string;
  /** `<meter>|<hour>`: the range a summary reads. */
  seriesHour: string;
}

/** What usage needs of tenancy: each organization's zone and projects (read from its events, not its tables). */
export const usageDirectoryProjection: Projection = {
  name: 'usage.directory.v1',
  filter: { types: ['tenancy.organization.created', 'tenancy.project.created'] },
  collections: [C.organizations, C.projects],
  async apply(stored, tx) {
    const event = stored as StoredEvent & (OrganizationCreated | ProjectCreated);
    if (event.type === 'tenancy.organization.created') {
      const { organizationId, timeZone } = event.data;
      await updateOnce<UsageOrganizationView>(tx, C.organizations, organizationId, stored, () => ({ id: organizationId, organizationId, timeZone }));
    } else {
      await updateOnce<Document>(tx, C.projects, event.data.projectId, stored, () => ({ id: event.data.projectId, organizationId: stored.organizationId }));
    }
  },
};

export const bucketId = (organizationId: string, meter: string, projectId: string | null, hour: string) => `${organizationId}|${meter}|${projectId ?? 'organization'}|${hour}`;

async function metersFor(tx: ReadStoreTx, organizationId: string, type: string): Promise<MeterDefinition[]> {
  const own = (await tx.get<MeterSetView>(C.meterSets, organizationId))?.meters ?? [];
  return [...builtInMeters, ...own].filter((m) => m.eventType === type);
}

/**
 * Rollups: every item adds its contribution to its meter × project × local-hour bucket; a correction removes
 * what the item added and adds what it adds now. A batch's changes are gathered per bucket and written once,
 * each bucket remembering the event versions it applied (a redelivered batch changes nothing).
 */
export const usageRollupProjection: Projection = {
  name: 'usage.rollups.v2',
  filter: { categories: ['meters', 'usage', 'usagefix'] },
  collections: [C.meters, C.meterSets, C.buckets],
  indexes: { [C.buckets]: ['seriesHour'] },
  async apply(stored, tx) {
    const event = { type: stored.type, data: stored.data } as UsageEvent;
    const organizationId = stored.organizationId;
    if (event.type === 'usage.meter.defined') {
      const meter = event.data;
      await updateOnce<MeterView>(tx, C.meters, `${organizationId}|${meter.key}`, stored, () => ({ id: `${organizationId}|${meter.key}`, organizationId, ...meter, builtIn: false, definedAt: stored.occurredAt }));
      await updateOnce<MeterSetView>(tx, C.meterSets, organizationId, stored, (set) => ({ id: organizationId, organizationId, meters: [...(set?.meters ?? []).filter((m) => m.key !== meter.key), meter] }));
      return;
    }
    const changes = new Map<string, { meter: string; projectId: string | null; hour: string; parts: [Contribution, 1 | -1, string | null][] }>();
    const metersByType = new Map<string, MeterDefinition[]>();
    const add = async (item: UsageItem, sign: 1 | -1, timeZone: string) => {
      const hour = hourBucket(item.time, timeZone);
      let meters = metersByType.get(item.type);
      if (!meters) metersByType.set(item.type, (meters = await metersFor(tx, organizationId, item.type)));
      for (const meter of meters) {
        const id = bucketId(organizationId, meter.key, item.projectId, hour);
        const change = changes.get(id) ?? { meter: meter.key, projectId: item.projectId, hour, parts: [] };
        change.parts.push([contributionOf(meter, item), sign, groupKeyOf(meter, item.data)]);
        changes.set(id, change);
      }
    };
    if (event.type === 'usage.events.recorded') {
      for (const item of event.data.items) await add(item, 1, event.data.timeZone);
    } else if (event.type === 'usage.event.corrected') {
      await add(event.data.from, -1, event.data.timeZone);
      if (event.data.to) await add(event.data.to, 1, event.data.timeZone);
    }
    for (const [id, { meter, projectId, hour, parts }] of changes) {
      await updateOnce<UsageBucketView>(tx, C.buckets, id, stored, (bucket) => {
        let total: Contribution = bucket ?? { count: 0, sum: 0, values: {} };
        const groups = { ...bucket?.groups };
        for (const [part, sign, group] of parts) {
          total = applyContribution(total, part, sign);
          if (group !== null) groups[group] = applyContribution(groups[group] ?? { count: 0, sum: 0, values: {} }, part, sign);
        }
        for (const [key, g] of Object.entries(groups)) if (g.count === 0) delete groups[key];
        const doc: UsageBucketView = { id, organizationId, meter, projectId, hour, seriesHour: `${meter}|${hour}`, count: total.count, sum: total.sum, values: total.values };
        return Object.keys(groups).length > 0 ? { ...doc, groups } : doc;
      });
    }
  },
};
