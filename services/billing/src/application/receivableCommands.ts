import { handleCommand, type CommandMetadata } from '@curbmap/eventsourcing';
import type { ServiceContext } from '@curbmap/service-kit';
import { receivableDecider, receivableStream, type ReceivableCommand } from '../domain/receivable/receivableDecider.ts';

export async function runReceivableCommand(ctx: ServiceContext, invoiceId: string, command: ReceivableCommand, { consistent = true }: { consistent?: boolean } = {}) {
  const result = await handleCommand(ctx.store, receivableDecider, receivableStream(invoiceId), command);
  if (consistent && result.position) await ctx.waitForProjections(result.position);
  return result;
}

export function recordBankTransfer(ctx: ServiceContext, meta: CommandMetadata, invoiceId: string, input: { amount: number; currency: string; reference: string; receivedAt: string }) {
  const paymentId = `pay_${meta.commandId.replace(/[^\w-]/g, '').slice(-36)}`;
  return runReceivableCommand(ctx, invoiceId, { type: 'RecordBankTransfer', data: { paymentId, ...input }, metadata: meta });
}
