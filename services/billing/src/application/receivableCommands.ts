import type { CommandMetadata } from '@curbmap/eventsourcing';
import { deterministicUuid } from '@curbmap/eventsourcing';
import { runCommand, type ServiceContext } from '@curbmap/service-kit';
import { receivableDecider, receivableStream, type ReceivableCommand } from '../domain/receivable/receivableDecider.ts';

export function runReceivableCommand(ctx: ServiceContext, invoiceId: string, command: ReceivableCommand, options?: { consistent?: boolean }) {
  return runCommand(ctx, receivableDecider, receivableStream(invoiceId), command, options);
}

/** An id derived from the command: a retried request records the same payment, refund or advice. */
const idFor = (prefix: string, meta: CommandMetadata) => `${prefix}_${deterministicUuid(`${meta.commandId}:${prefix}`).replace(/-/g, '')}`;

/** The operator records a bank transfer received against an invoice. */
export function recordBankTransfer(ctx: ServiceContext, meta: CommandMetadata, invoiceId: string, input: { amount: number; currency: string; reference: string; receivedAt: string }) {
  return runReceivableCommand(ctx, invoiceId, { type: 'RecordBankTransfer', data: { paymentId: idFor('pay', meta), ...input }, metadata: meta });
}

/** The operator records money returned by bank transfer: the invoice is owed again by that much. */
export function recordManualRefund(ctx: ServiceContext, meta: CommandMetadata, invoiceId: string, input: { paymentId: string; amount?: number; reference: string; refundedAt: string }) {
  return runReceivableCommand(ctx, invoiceId, { type: 'RecordManualRefund', data: { refundId: idFor('re', meta), ...input }, metadata: meta });
}

/** The customer tells the operator it sent a transfer. */
export function recordRemittanceAdvice(ctx: ServiceContext, meta: CommandMetadata, invoiceId: string, input: { amount: number; reference: string; sentAt: string }) {
  return runReceivableCommand(ctx, invoiceId, { type: 'RecordRemittanceAdvice', data: { adviceId: idFor('ra', meta), ...input }, metadata: meta });
}
