import { unitsOver, type MeterDefinition, type UsageEvent, type UsageItem } from '@curbmap/contracts';
import type { Checkpoint, StoredEvent } from '@curbmap/eventsourcing';
import { HttpError, usageTermsOfYear, type PricingCopies, type ServiceContext } from '@curbmap/service-kit';
import { addInto, aggregate, contributionOf, valueAt, type Contribution } from '../domain/rollup/rollup.ts';
import type { UsageInvoiceView } from '../projections/usageInvoicesProjection.ts';
import { inHours, periodHours, usagePeriodStream } from './periodClosing.ts';
import { metersOf, usageStream } from './usageCommands.ts';

type Closed = Extract<UsageEvent, { type: 'usage.period.closed' }>['data'];
type Adjusted = Extract<UsageEvent, { type: 'usage.adjustment.recorded' }>['data'];
type Recorded = Extract<UsageEvent, { type: 'usage.events.recorded' }>['data'];
type Corrected = Extract<UsageEvent, { type: 'usage.event.corrected' }>['data'];
type Hours = { fromHour: string; toHour: string };

/** One counted item: +1 as recorded (or as amended to), −1 for what a correction took away. */
export interface EvidenceRow {
  eventId: string;
  time: string;
  projectId: string | null;
  value: unknown;
  sign: 1 | -1;
  note: string;
}

/** The usage behind an overage line: its rows, then the figures that follow from them down to the line's quantity. */
export interface LineEvidence {
  filename: string;
  rows(): AsyncIterable<EvidenceRow>;
  /** Once the rows are read: [label, figure] pairs, ending with the units billed. */
  summary(): [string, number | string | null][];
}

/** Which usage a line counts: the items appended in (after, through] of the log, or one event's. */
type Selection = { after: Checkpoint; through: string } | { event: StoredEvent };

const additive = (meter: MeterDefinition) => meter.aggregation === 'count' || meter.aggregation === 'sum';
const notKept = (why: string) => new HttpError(404, 'not-found', `the usage behind this line cannot be listed: ${why}`);

/**
 * The usage behind line `n` (from 1) of an overage invoice, by the rules that counted it:
 * - the close's line: every item of the meter's type in the year's hours appended up to the position the close
 *   counted through (`counted` of usage.period.closed), with the corrections appended meanwhile;
 * - an adjustment of a count or sum: what its source changed (a late event's items, a correction's two sides, or
 *   for the close's own adjustment the items appended between its count and its append);
 * - an adjustment of another aggregation (latest, max, unique): every item of the year appended before it, since
 *   the year's value was recomputed from the rollups when it was recorded (usage appended meanwhile can make the
 *   value differ: the file then says so in a last row).
 */
export async function lineEvidence(ctx: ServiceContext, pricing: PricingCopies, invoice: UsageInvoiceView, n: number): Promise<LineEvidence> {
  const line = invoice.lines[n - 1];
  if (!line) throw new HttpError(404, 'not-found', `invoice ${invoice.number} has no line ${n}`);
  if (!line.meter) throw new HttpError(404, 'not-found', `line ${n} of invoice ${invoice.number} bills no usage`);
  const organizationId = invoice.organizationId;
  const meter = (await metersOf(ctx, organizationId)).find((m) => m.key === line.meter);
  if (!meter) throw notKept(`meter ${line.meter} is not defined`);
  const periodEvents: StoredEvent[] = [];
  for await (const e of ctx.store.readStream(usagePeriodStream(organizationId))) periodEvents.push(e);
  const source = periodEvents.find((e) => e.id === invoice.sourceEventId);
  const close = periodEvents.find((e) => e.type === 'usage.period.closed' && (e.data as Closed).periodStart === line.periodStart);
  if (!source || !close) throw notKept('its close is not in the log');
  const closed = close.data as Closed;
  if (!closed.counted) throw notKept('the year was closed before closes recorded what they counted');
  const hours: Hours = closed.counted;
  try {
    ctx.store.compare(closed.counted.through, close.globalPosition);
  } catch {
    throw notKept('the log was copied to another store since the close, and its positions changed');
  }
  // The unit size the line was billed in: the plan's, or the contract's that priced the year.
  const terms = await usageTermsOfYear(ctx, pricing, { ...closed, organizationId }, 5_000);
  if (terms === 'pending' || terms === 'unpriced') throw notKept(`plan ${closed.planId} is not in usage's copy of the catalogue`);
  const unitSize = terms.overage[meter.key]?.unitSize ?? 1;
  const includedLabel = closed.contractVersion ? `included (plan and contract v${closed.contractVersion})` : 'included in the plan';

  let selection: Selection;
  let adjustment: Adjusted | null = null;
  if (source.type === 'usage.period.closed') selection = { after: null, through: closed.counted.through };
  else {
    adjustment = source.data as Adjusted;
    // Another aggregation's adjustment is the year's value recomputed when it was recorded: every item up to it.
    if (!additive(meter)) selection = { after: null, through: source.globalPosition };
    else if (adjustment.sourceEventId === close.id) selection = { after: closed.counted.through, through: close.globalPosition };
    else {
      const cause = await usageEventById(ctx, organizationId, adjustment.sourceEventId, source.globalPosition);
      if (!cause) throw notKept(`its source event ${adjustment.sourceEventId} is not in the log`);
      selection = { event: cause };
    }
  }

  const counted: Contribution = { count: 0, sum: 0, values: {} };
  let change = 0;
  const rowOf = (item: UsageItem, sign: 1 | -1, note: string): EvidenceRow => {
    const contribution = contributionOf(meter, item);
    addInto(counted, contribution, sign);
    change += sign * (meter.aggregation === 'count' ? 1 : contribution.sum);
    return { eventId: item.id, time: item.time, projectId: item.projectId, value: meter.aggregation === 'count' ? 1 : (valueAt(item.data, meter.valueProperty!) ?? null), sign, note };
  };
  const rowsOf = function* (event: StoredEvent): Generator<EvidenceRow> {
    if (event.type === 'usage.events.recorded') {
      const data = event.data as Recorded;
      for (const item of data.items) if (item.type === meter.eventType && inHours(item, data.timeZone, hours)) yield rowOf(item, 1, '');
    } else if (event.type === 'usage.event.corrected') {
      const data = event.data as Corrected;
      if (data.from.type === meter.eventType && inHours(data.from, data.timeZone, hours)) yield rowOf(data.from, -1, data.to ? 'amended: as it counted before' : 'voided');
      if (data.to && data.to.type === meter.eventType && inHours(data.to, data.timeZone, hours)) yield rowOf(data.to, 1, 'amended: as it counts now');
    }
  };
  const store = ctx.store;
  const inRange = (position: string, range: { after: Checkpoint; through: string }) => (range.after === null || store.compare(position, range.after) > 0) && store.compare(position, range.through) <= 0;

  return {
    filename: `${invoice.number}-line-${n}-${meter.key}.csv`,
    async *rows() {
      if ('event' in selection) {
        yield* rowsOf(selection.event);
        return;
      }
      const range = selection;
      // The organization's usage in log order, then the corrections of the same range (each its own stream).
      for await (const e of store.readStream(usageStream(organizationId))) {
        if (store.compare(e.globalPosition, range.through) > 0) break;
        if (inRange(e.globalPosition, range)) yield* rowsOf(e);
      }
      for await (const e of store.readAll({ ...(range.after !== null ? { from: range.after } : {}), to: range.through, filter: { types: ['usage.event.corrected'] } })) {
        if (e.organizationId === organizationId) yield* rowsOf(e);
      }
    },
    summary() {
      const figures: [string, number | string | null][] = [];
      if (!adjustment) {
        const total = aggregate(meter, [counted]);
        const included = closed.totals.find((t) => t.meter === meter.key)?.included ?? 0;
        figures.push(['total counted', total], [includedLabel, included], ['over the included', Math.max(0, (total ?? 0) - included)], ['unit size', unitSize], ['units billed', unitsOver(total, included, unitSize)]);
        if (total !== closed.totals.find((t) => t.meter === meter.key)?.total) figures.push(['total the close recorded (differs)', closed.totals.find((t) => t.meter === meter.key)?.total ?? null]);
        return figures;
      }
      const included = terms.includedUsage[meter.key] ?? 0;
      const previous = adjustment.previousTotal;
      const total = additive(meter) ? (previous ?? 0) + change : aggregate(meter, [counted]);
      const [before, after] = [unitsOver(previous, included, unitSize), unitsOver(total, included, unitSize)];
      figures.push(['total billed before', previous], [additive(meter) ? 'change' : 'total recomputed from the rows', additive(meter) ? change : total], ['total after', total], [includedLabel, included], ['unit size', unitSize], ['units before', before], ['units after', after], ['units billed', Math.abs(after - before)]);
      if (total !== adjustment.total) figures.push(['total the adjustment recorded (differs)', adjustment.total]);
      return figures;
    },
  };
}

/** A usage event of the organization by id, appended before `before`: a batch in its usage stream, or a correction. */
async function usageEventById(ctx: ServiceContext, organizationId: string, id: string, before: string): Promise<StoredEvent | null> {
  for await (const e of ctx.store.readStream(usageStream(organizationId))) {
    if (ctx.store.compare(e.globalPosition, before) >= 0) break;
    if (e.id === id) return e;
  }
  for await (const e of ctx.store.readAll({ to: before, filter: { types: ['usage.event.corrected'] } })) {
    if (e.id === id && e.organizationId === organizationId) return e;
  }
  return null;
}
