import type { ExportRequest } from '@curbmap/contracts';
import { eventIdFor, type CommandMetadata, type StreamWrite } from '@curbmap/eventsourcing';
import { runCommand, type ServiceContext } from '@curbmap/service-kit';
import { exportJobDecider, exportStream } from '../domain/exportJob/exportJobDecider.ts';
import { assertProject } from './curbCommands.ts';
import { checkExportRequest } from './exportWriter.ts';

/**
 * Records an export request (the runner picks it up). The job id derives from the command id: a request
 * retried with its Idempotency-Key is the same job, never a second export.
 */
export async function requestExport(ctx: ServiceContext, meta: CommandMetadata, request: ExportRequest, origin: { scheduleId: string | null; dueAt: string | null; jobId?: string } = { scheduleId: null, dueAt: null }, options: { consistent?: boolean } = {}): Promise<{ jobId: string; replayed: boolean; write: StreamWrite | null }> {
  checkExportRequest(request);
  if (request.projectId) await assertProject(ctx, meta.organizationId, request.projectId);
  const jobId = origin.jobId ?? eventIdFor(meta.commandId, -1);
  const metadata: CommandMetadata = { ...meta };
  if (request.projectId) metadata.projectId = request.projectId;
  const result = await runCommand(ctx, exportJobDecider, exportStream(jobId), { type: 'RequestExport', data: { jobId, request, scheduleId: origin.scheduleId, dueAt: origin.dueAt }, metadata }, options);
  return { jobId, replayed: result.replayed || result.events.length === 0, write: result.write };
}
