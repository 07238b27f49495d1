import { ANY, BACKWARDS, eventTypeFilter, FORWARDS, jsonEvent, KurrentDBClient, NO_STREAM, START, StreamNotFoundError, streamNameFilter, WrongExpectedVersionError, type AllStreamResolvedEvent, type AppendStreamState, type EventData, type Position, type RecordedEvent } from '@kurrent/kurrentdb-client';
import { categoryOf, type EventRegistry, type NewEvent } from '@curbmap/contracts';
import { ClaimConflictError, ConcurrencyError } from '../../errors.ts';
import { rowToEvent } from '../eventRows.ts';
import type { AppendOptions, AppendResult, Checkpoint, EventStore, ReadAllOptions, StoredEvent } from '../../ports/eventStore.ts';
import { envelopeOf } from '../../ports/subscriptions.ts';

/** A claim is a stream of its own, created once (`no_stream`) in the same append as the events it guards. */
const CLAIM_STREAM = 'curbmapclaim-';
const CLAIM_TYPE = 'curbmap.claim';
const PAGE = 500;

/** The envelope's fields besides type, id and data; strings only, as the multi-stream append requires. */
type Metadata = Record<string, string>;

/**
 * A checkpoint is `kdb:<commit>/<prepare>`, KurrentDB's position in `$all`. The prefix tells it from PostgreSQL's
 * `<transaction>/<position>`: read models projected from another store (before a copy-log) fail loudly here, rather
 * than skip events; rebuild them (`curbmap replay`).
 */
const PREFIX = 'kdb:';
const format = (p: Position): string => `${PREFIX}${p.commit}/${p.prepare}`;
const CHECKPOINT = /^kdb:(\d+)\/(\d+)$/;
const parse = (c: Checkpoint): Position | null => {
  if (c === null) return null;
  const match = CHECKPOINT.exec(c);
  if (!match) throw new Error(`checkpoint ${c} was not made by this KurrentDB store (read models projected from another store: rebuild them with curbmap replay)`);
  return { commit: BigInt(match[1]!), prepare: BigInt(match[2]!) };
};
/** Our events only, on the server: no system events, no claims (a usage batch writes a claim per item). */
const OURS = eventTypeFilter({ regex: `^(?!\\$|${CLAIM_TYPE.replace('.', '\\.')}$)` });
const cmp = (a: Position, b: Position) => (a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1);
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ours = (e: RecordedEvent | undefined): e is RecordedEvent => !!e && !e.type.startsWith('$') && !e.streamId.startsWith('$') && !e.streamId.startsWith(CLAIM_STREAM);

/**
 * The EventStore on KurrentDB (EventStoreDB 20+ speaks the same protocol for everything but claims). Expected
 * versions are stream revisions (0-based, as ours); `$all` positions are the checkpoints; category and type
 * filters run on the server where one filter suffices. Claims (usage dedupe keys) are streams created with
 * `no_stream` in the same multi-stream append as the events (KurrentDB 25.1 and later); a server without
 * multi-stream appends refuses an append with claims, saying so, rather than claim and append apart (a crash
 * between the two would keep a claim whose events were never written).
 *
 * NOT RUN AGAINST A SERVER on the machine it was written on (none can be had there): its contract suite runs where
 * KURRENTDB_URL is set. An append is one gRPC message, so it is bounded by the server's MaxAppendSize (1 MiB by
 * default): a large curb import must be sized to it.
 */
export class KurrentDbEventStore implements EventStore {
  private readonly client: KurrentDBClient;
  private readonly registry: EventRegistry | undefined;
  private readonly listeners = new Set<(position: string, appended: readonly { streamId: string; type: string }[]) => void>();

  constructor(client: KurrentDBClient, registry?: EventRegistry) {
    this.client = client;
    this.registry = registry;
  }

  /** KURRENTDB_URL: `kurrentdb://host:2113?tls=false` (or `esdb://…`). */
  static open(connectionString: string, registry?: EventRegistry): KurrentDbEventStore {
    return new KurrentDbEventStore(KurrentDBClient.connectionString(connectionString.replace(/^esdb(\+discover)?:/, 'kurrentdb$1:')), registry);
  }

  onAppended(listener: (position: string, appended: readonly { streamId: string; type: string }[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async append(streamId: string, events: Iterable<NewEvent>, { expectedVersion, claims = [] }: AppendOptions): Promise<AppendResult> {
    const batch = [...events];
    if (batch.length === 0) throw new Error('append needs at least one event');
    const data = batch.map((e) => this.toEventData(e));
    const streamState: AppendStreamState = expectedVersion === 'no_stream' ? NO_STREAM : expectedVersion === 'any' ? ANY : BigInt(expectedVersion);
    let result: AppendResult;
    try {
      result = claims.length === 0 ? await this.appendOne(streamId, data, streamState) : await this.appendClaiming(streamId, batch, data, streamState, [...new Set(claims)]);
    } catch (err) {
      if (err instanceof WrongExpectedVersionError && err.streamName === streamId) throw new ConcurrencyError(streamId, expectedVersion, String(err.actualState));
      throw err;
    }
    const appended = batch.map((e) => ({ streamId, type: e.type }));
    for (const listener of this.listeners) listener(result.position, appended);
    return result;
  }

  private async appendOne(streamId: string, data: EventData[], streamState: AppendStreamState): Promise<AppendResult> {
    const written = await this.client.appendToStream(streamId, data, { streamState });
    const nextVersion = Number(written.nextExpectedRevision);
    return { nextVersion, position: written.position ? format(written.position) : await this.positionOf(streamId, nextVersion) };
  }

  private async appendClaiming(streamId: string, batch: NewEvent[], data: EventData[], expectedState: AppendStreamState, claims: string[]): Promise<AppendResult> {
    const claim = (key: string) => jsonEvent({ type: CLAIM_TYPE, data: { key, streamId, eventIds: batch.map((e) => e.id) }, metadata: {} });
    try {
      const written = await this.client.multiStreamAppend([{ streamName: streamId, events: data, expectedState }, ...claims.map((key) => ({ streamName: CLAIM_STREAM + key, events: [claim(key)], expectedState: NO_STREAM as AppendStreamState }))]);
      const nextVersion = Number(written.responses.find((r) => r.streamName === streamId)!.revision);
      return { nextVersion, position: await this.positionOf(streamId, nextVersion) };
    } catch (err) {
      if (!(err instanceof WrongExpectedVersionError) || !err.streamName.startsWith(CLAIM_STREAM)) throw err;
      // A claim exists: the same append retried (its claims name these events) answers as the first did.
      const held = await this.claimRecords(claims);
      const mine = [...held.values()].every((c) => c.eventIds[0] === batch[0]!.id);
      if (held.size === claims.length && mine) {
        const position = held.get(claims[0]!)!.position;
        const last = await this.readAt(position);
        if (last) return { nextVersion: last.streamVersion, position };
      }
      throw new ClaimConflictError(claims.filter((k) => held.has(k)));
    }
  }

  private toEventData(e: NewEvent): EventData {
    const readable = this.registry?.forAppend(e);
    const correlationId = e.correlationId ?? e.id;
    const metadata: Metadata = {
      schemaVersion: String(e.schemaVersion ?? readable?.schemaVersion ?? 1),
      occurredAt: e.occurredAt,
      organizationId: e.organizationId,
      correlationId,
      causationId: e.causationId ?? correlationId,
      ...(e.projectId ? { projectId: e.projectId } : {}),
    };
    return jsonEvent({ id: e.id, type: e.type, data: e.data as Record<string, unknown>, metadata });
  }

  /** The `$all` position of a stream's event at a revision (an append's answer carries none for some calls). */
  private async positionOf(streamId: string, revision: number): Promise<string> {
    for await (const resolved of this.client.readStream(streamId, { fromRevision: BigInt(revision), maxCount: 1, direction: FORWARDS })) {
      if (resolved.event?.position) return format(resolved.event.position);
      if (resolved.commitPosition !== undefined) return format({ commit: resolved.commitPosition, prepare: resolved.commitPosition });
    }
    throw new Error(`stream ${streamId} has no event at revision ${revision}`);
  }

  private async claimRecords(keys: string[]): Promise<Map<string, { eventIds: string[]; position: string }>> {
    const found = new Map<string, { eventIds: string[]; position: string }>();
    for (const key of keys) {
      try {
        for await (const resolved of this.client.readStream(CLAIM_STREAM + key, { fromRevision: START, maxCount: 1, direction: FORWARDS })) {
          const e = resolved.event;
          if (!e?.position) continue;
          const { eventIds } = e.data as { eventIds: string[] };
          const position = await this.appendedWith(e.position, eventIds[eventIds.length - 1]!, eventIds.length + keys.length);
          if (position) found.set(key, { eventIds, position });
        }
      } catch (err) {
        if (!(err instanceof StreamNotFoundError)) throw err;
      }
    }
    return found;
  }

  /**
   * The position of the last event of the append a claim was made with: in the same commit as the claim, a few
   * records before it (or after it: the order of streams within one multi-stream append is the server's).
   */
  private async appendedWith(claimAt: Position, lastEventId: string, within: number): Promise<string | null> {
    for (const direction of [BACKWARDS, FORWARDS] as const) {
      for await (const resolved of this.client.readAll({ fromPosition: claimAt, direction, maxCount: within + 1 }) as AsyncIterable<AllStreamResolvedEvent>) {
        const e = resolved.event;
        if (e && e.position.commit !== claimAt.commit) break;
        if (e?.id === lastEventId) return format(e.position);
      }
    }
    return null;
  }

  async claimed(keys: string[]): Promise<Map<string, string>> {
    return new Map([...(await this.claimRecords(keys))].map(([key, c]) => [key, c.position]));
  }

  async *readStream(streamId: string, options: { fromVersion?: number } = {}): AsyncIterable<StoredEvent> {
    try {
      for await (const resolved of this.client.readStream(streamId, { fromRevision: BigInt(options.fromVersion ?? 0), direction: FORWARDS })) {
        if (ours(resolved.event)) yield this.toEvent(resolved.event);
      }
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err;
    }
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterable<StoredEvent> {
    const { categories = [], types = [] } = options.filter ?? {};
    const to = parse(options.to ?? null);
    let from = parse(options.from ?? null);
    // One filter on the server (types, else categories as stream-name prefixes); the other, if both, here.
    const filter = types.length
      ? eventTypeFilter({ regex: `^(${types.map(escapeRegex).join('|')})$` })
      : categories.length
        ? streamNameFilter({ regex: `^(${categories.map((c) => `${escapeRegex(c)}(-|$)`).join('|')})` })
        : OURS;
    const wanted = new Set(categories);
    for (;;) {
      let read = 0;
      let last: Position | null = null;
      for await (const resolved of this.client.readAll({ fromPosition: from ?? START, direction: FORWARDS, maxCount: PAGE, filter }) as AsyncIterable<AllStreamResolvedEvent>) {
        read += 1;
        const e = resolved.event;
        if (!e) continue;
        last = e.position;
        // A read from a position includes the event there: the checkpoint is exclusive.
        if (from && cmp(e.position, from) <= 0) continue;
        if (to && cmp(e.position, to) > 0) return;
        if (!ours(e) || (wanted.size > 0 && !wanted.has(categoryOf(e.streamId)))) continue;
        // The server sends the data anyway: an envelope-only reader still gets none, as from every adapter.
        yield options.envelopeOnly ? envelopeOf(this.toEvent(e)) : this.toEvent(e);
      }
      if (read < PAGE || !last) return;
      from = last;
    }
  }

  async headPosition(): Promise<Checkpoint> {
    for await (const resolved of this.client.readAll({ fromPosition: 'end', direction: BACKWARDS, maxCount: 1, filter: OURS }) as AsyncIterable<AllStreamResolvedEvent>) {
      if (ours(resolved.event)) return format(resolved.event.position);
    }
    return null;
  }

  async readAt(position: string): Promise<StoredEvent | null> {
    if (!CHECKPOINT.test(position)) return null;
    const at = parse(position)!;
    try {
      for await (const resolved of this.client.readAll({ fromPosition: at, direction: FORWARDS, maxCount: 1 }) as AsyncIterable<AllStreamResolvedEvent>) {
        const e = resolved.event;
        if (e && cmp(e.position, at) === 0 && ours(e)) return this.toEvent(e);
      }
    } catch {
      // A position no record starts at: nothing was appended there.
    }
    return null;
  }

  compare(a: Checkpoint, b: Checkpoint): number {
    const pa = parse(a);
    const pb = parse(b);
    if (!pa || !pb) return pa ? 1 : pb ? -1 : 0;
    return cmp(pa, pb);
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }

  private toEvent(e: RecordedEvent): StoredEvent {
    const m = (e.metadata ?? {}) as Metadata;
    const row = {
      id: e.id,
      stream_id: e.streamId,
      stream_version: Number(e.revision),
      type: e.type,
      schema_version: Number(m['schemaVersion'] ?? 1),
      occurred_at: m['occurredAt'] ?? e.created.toISOString(),
      organization_id: m['organizationId'] ?? '',
      project_id: m['projectId'] ?? null,
      correlation_id: m['correlationId'] ?? e.id,
      causation_id: m['causationId'] ?? e.id,
    };
    if (!e.position) throw new Error(`event ${e.id} was read without its $all position`);
    return rowToEvent(row, format(e.position), e.data, this.registry);
  }
}
