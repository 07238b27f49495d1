import type { CommandMetadata } from '@curbmap/eventsourcing';
import { periodicPass, runCommand, type ArtifactStore, type Running, type ServiceContext } from '@curbmap/service-kit';
import { exportJobDecider, exportStream, type ExportJobCommand, type ExportJobEvent } from '../domain/exportJob/exportJobDecider.ts';
import { directoryCollections, type ExportOrganizationView } from '../projections/curbInventoryProjection.ts';
import { exportCollections, exportJobProjection, type ExportJobView } from '../projections/exportJobProjection.ts';
import { countExport, extensionOf, sourceOf, writeExport, type ExportProgress } from './exportWriter.ts';

export interface ExportRunnerOptions {
  artifacts: ArtifactStore;
  /** How long an artifact is kept (default 7 days). */
  retentionMs: number;
  /** How often a running job records its progress (default 1 s). */
  progressIntervalMs: number;
  /** How often expired artifacts are deleted (default hourly). */
  retentionIntervalMs: number;
}

export interface ExportRunner extends Running {
  /** Resolves when no job is queued or running (tests, operators). */
  idle(): Promise<void>;
  /** Deletes artifacts past their retention as of `at`; answers how many. */
  expire(at?: Date): Promise<number>;
}

export const artifactKey = (job: Pick<ExportJobView, 'organizationId' | 'id'>, extension: string) => `exports/${job.organizationId}/${job.id}.${extension}`;

/** How long a job waits for its read model to reach the request before it reads anyway (and says where it read). */
const CATCH_UP_MS = 10 * 60_000;
/** Runs of a job that crash (not an export that fails: that is recorded) before it waits for the next start (about a minute in all). */
const RUN_ATTEMPTS = 8;

/**
 * Runs export jobs one at a time. A job is queued when its request is appended and, at start, every job the
 * log shows requested or running (a crash or a stop interrupted it): it starts again from the beginning with the
 * next attempt, on a fresh snapshot, and a half-written artifact is discarded. Completed is appended only
 * after the artifact is whole and durable, with its checksum.
 */
export function startExportRunner(ctx: ServiceContext, options: ExportRunnerOptions): ExportRunner {
  const log = ctx.log.child({ component: 'export-runner' });
  const queue: string[] = [];
  const queued = new Set<string>();
  const abort = new AbortController();
  let idleWaiters: (() => void)[] = [];
  let working: Promise<void> | null = null;

  const command = (jobId: string, type: ExportJobCommand['type'], data: unknown, organizationId: string, projectId: string | null) => {
    const metadata: CommandMetadata = { commandId: ctx.newId(), now: ctx.now().toISOString(), organizationId };
    if (projectId) metadata.projectId = projectId;
    return runCommand(ctx, exportJobDecider, exportStream(jobId), { type, data, metadata } as ExportJobCommand, { consistent: false });
  };

  async function run(jobId: string): Promise<void> {
    // The job as its log has it (never a read model that may lag): its request, where it was requested, its state.
    let state = exportJobDecider.initialState();
    let requestedAt: string | null = null;
    let organizationId = '';
    for await (const stored of ctx.store.readStream(exportStream(jobId))) {
      state = exportJobDecider.evolve(state, { type: stored.type, data: stored.data } as ExportJobEvent);
      if (stored.type === 'export.job.requested') [requestedAt, organizationId] = [stored.globalPosition, stored.organizationId];
    }
    if (state.status !== 'requested' && state.status !== 'running') return;
    const job = { id: jobId, organizationId, request: state.request };
    const projectId = job.request.projectId;
    const organization = await ctx.readStore.get<ExportOrganizationView>(directoryCollections.organizations, organizationId);
    if (!organization) {
      await command(jobId, 'FailExport', { reason: 'organization not found' }, organizationId, projectId);
      return;
    }
    // Everything accepted before the request is in the export: its read model first catches up to the request.
    const source = sourceOf(job.request.dataset);
    await ctx.subscriptions
      .list()
      .find((s) => s.name === source.projection)
      ?.waitFor(requestedAt, CATCH_UP_MS)
      .catch((err) => log.warn({ err, jobId }, 'the read model is still behind the request; exporting what it shows (see consistentAt)'));
    await ctx.readStore.snapshot(async (reader) => {
      const rowsTotal = await countExport(reader, organizationId, job.request);
      const started = await command(jobId, 'StartExport', { rowsTotal }, organizationId, projectId);
      if (started.state.status !== 'running') return;
      const attempt = started.state.attempt;
      const progress: ExportProgress = { rowsDone: 0, bytes: 0 };
      const key = artifactKey(job, extensionOf(job.request));
      const writer = options.artifacts.create(key);
      let reported = 0;
      const timer = setInterval(() => {
        if (progress.rowsDone === reported) return;
        reported = progress.rowsDone;
        log.info({ jobId, rowsDone: progress.rowsDone, rowsTotal, bytes: progress.bytes }, 'export progress');
        void command(jobId, 'ReportProgress', { rowsDone: progress.rowsDone, rowsTotal, bytes: progress.bytes }, organizationId, projectId).catch((err) => log.warn({ err, jobId }, 'recording export progress failed'));
      }, options.progressIntervalMs);
      const now = ctx.now();
      try {
        const written = await writeExport({ reader, organization, request: job.request, out: writer.stream, progress, signal: abort.signal, now, checkpointName: source.projection });
        clearInterval(timer);
        await writer.commit();
        const manifest = {
          rows: written.rows,
          bytes: written.bytes,
          sha256: written.sha256,
          consistentAt: written.consistentAt,
          nextChangedSince: now.toISOString(),
          fileName: `curbmap-${job.request.dataset}-${jobId}.${extensionOf(job.request)}`,
          contentType: written.contentType,
          contentEncoding: null,
          expiresAt: new Date(now.getTime() + options.retentionMs).toISOString(),
        };
        await command(jobId, 'CompleteExport', { manifest }, organizationId, projectId);
        log.info({ jobId, attempt, rows: written.rows, bytes: written.bytes }, 'export completed');
      } catch (err) {
        clearInterval(timer);
        await writer.abort();
        // Stopped by a shutdown: the job stays running and starts again at the next start.
        if (abort.signal.aborted) return;
        log.error({ err, jobId }, 'export failed');
        await command(jobId, 'FailExport', { reason: `export failed: ${(err as Error).message}`.slice(0, 500) }, organizationId, projectId);
      }
    });
  }

  function pump(): void {
    if (working || abort.signal.aborted) return;
    const next = queue.shift();
    if (!next) {
      if (retrying.size === 0) for (const w of idleWaiters.splice(0)) w();
      return;
    }
    working = run(next)
      .then(() => void attempts.delete(next))
      .catch((err) => retryLater(next, err))
      .finally(() => {
        queued.delete(next);
        working = null;
        pump();
      });
  }
  // A job whose run crashed (the store out of reach: a restart, a failover) is run again after a pause, growing to
  // 30 s, up to RUN_ATTEMPTS times; it would otherwise stay requested until the process next starts (as it does
  // after the last attempt, which is logged).
  const attempts = new Map<string, number>();
  const retrying = new Map<string, ReturnType<typeof setTimeout>>();
  function retryLater(jobId: string, err: unknown): void {
    const attempt = (attempts.get(jobId) ?? 0) + 1;
    attempts.set(jobId, attempt);
    if (attempt >= RUN_ATTEMPTS || abort.signal.aborted) {
      attempts.delete(jobId);
      log.error({ err, jobId, attempt }, 'export job crashed; it runs again when the export service next starts');
      return;
    }
    const delay = Math.min(30_000, 500 * 2 ** (attempt - 1));
    log.error({ err, jobId, attempt, retryInMs: delay }, 'export job crashed; it runs again');
    clearTimeout(retrying.get(jobId));
    const timer = setTimeout(() => {
      if (retrying.get(jobId) === timer) retrying.delete(jobId);
      if (!abort.signal.aborted) enqueue(jobId);
    }, delay);
    timer.unref();
    retrying.set(jobId, timer);
  }
  const enqueue = (jobId: string) => {
    // Queued now: a retry still waiting for it is not needed any more.
    const pending = retrying.get(jobId);
    if (pending) {
      clearTimeout(pending);
      retrying.delete(jobId);
    }
    if (queued.has(jobId)) return;
    queued.add(jobId);
    queue.push(jobId);
    pump();
  };

  // New requests, as they are appended (after-batch checkpoint: the queue is rebuilt from the read model at start).
  const sub = ctx.subscriptions.subscribe('export.runner.v1', { types: ['export.job.requested'] }, async (batch) => {
    for (const e of batch) enqueue((e.data as { jobId: string }).jobId);
  });
  // Jobs a crash or a stop interrupted, once the jobs read model has caught up.
  const resumed = (async () => {
    await ctx.subscriptions.list().find((s) => s.name === exportJobProjection.name)?.caughtUp;
    for (const status of ['running', 'requested'] as const) {
      for (const job of await ctx.readStore.find<ExportJobView>(exportCollections.jobs, { status }, { orderBy: 'requestedAt' })) enqueue(job.id);
    }
  })().catch((err) => log.error({ err }, 'resuming export jobs failed'));

  const retention = periodicPass(
    async (at) => {
      let deleted = 0;
      for (const job of await ctx.readStore.find<ExportJobView>(exportCollections.jobs, { status: 'completed' })) {
        if (!job.manifest || Date.parse(job.manifest.expiresAt) > at.getTime()) continue;
        await options.artifacts.delete(artifactKey(job, extensionOf(job.request)));
        await command(job.id, 'DeleteArtifact', {}, job.organizationId, job.request.projectId);
        deleted += 1;
      }
      if (deleted > 0) log.info({ deleted }, 'expired export artifacts deleted');
      return deleted;
    },
    { intervalMs: options.retentionIntervalMs, now: ctx.now, onError: (err) => log.error({ err }, 'export retention pass failed') },
  );

  return {
    async idle() {
      await resumed;
      await ctx.subscriptions.list().find((s) => s.name === 'export.runner.v1')?.waitFor(await ctx.store.headPosition(), 30_000);
      if (!working && queue.length === 0 && retrying.size === 0) return;
      await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    expire: (at) => retention.tick(at),
    async stop() {
      abort.abort(new Error('the export runner is stopping'));
      for (const timer of retrying.values()) clearTimeout(timer);
      retrying.clear();
      for (const w of idleWaiters.splice(0)) w();
      await sub.stop();
      await retention.stop();
      await resumed;
      await working;
      idleWaiters = [];
    },
  };
}
