import type { ExportRequest } from '@curbmap/contracts';
import { eventIdFor, type CommandMetadata } from '@curbmap/eventsourcing';
import { runCommand, type ServiceContext } from '@curbmap/service-kit';
import { exportJobDecider, exportStream } from '../domain/exportJob/exportJobDecider.ts';
import { assertProject } from './curbCommands.ts';
import { checkExportRequest } from './exportWriter.ts';

/**
 * Records an export request (the runner picks it up). The job id derives from the command id: a request
 * retried with its Idempotency-Key is the same job, never a second export.
 */
export async function requestExport(ctx: ServiceContext, meta: CommandMetadata, request: ExportRequest, origin: { scheduleId: string | null; dueAt: string | null; jobId?: string } = { scheduleId: null, dueAt: null }): Promise<{ jobId: string; replayed: boolean }> {
  checkExportRequest(request);
  if (request.projectId) await assertProject(ctx, meta.organizationId, request.projectId);
  const jobId = origin.jobId ?? eventIdFor(meta.commandId, -1);
  const metadata: CommandMetadata = { ...meta };
  if (request.projectId) metadata.projectId = request.projectId;
  const result = await runCommand(ctx, exportJobDecider, exportStream(jobId), { type: 'RequestExport', data: { jobId, request, scheduleId: origin.scheduleId, dueAt: origin.dueAt }, metadata });
  return { jobId, replayed: result.replayed || result.events.length === 0 };
}
