import type { CommandMetadata } from '@curbmap/eventsourcing';
import { runCommand, type ServiceContext } from '@curbmap/service-kit';
import { receivableDecider, receivableStream, type ReceivableCommand } from '../domain/receivable/receivableDecider.ts';

export function runReceivableCommand(ctx: ServiceContext, invoiceId: string, command: ReceivableCommand, options?: { consistent?: boolean }) {
  return runCommand(ctx, receivableDecider, receivableStream(invoiceId), command, options);
}

export function recordBankTransfer(ctx: ServiceContext, meta: CommandMetadata, invoiceId: string, input: { amount: number; currency: string; reference: string; receivedAt: string }) {
  const paymentId = `pay_${meta.commandId.replace(/[^\w-]/g, '').slice(-36)}`;
  return runReceivableCommand(ctx, invoiceId, { type: 'RecordBankTransfer', data: { paymentId, ...input }, metadata: meta });
}
