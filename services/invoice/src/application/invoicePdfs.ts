import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { loadState } from '@curbmap/eventsourcing';
import { HttpError, runCommand, writeOf, type ArtifactStore, type Running, type ServiceContext } from '@curbmap/service-kit';
import type { PdfRenderer } from '../adapters/chromiumPdfRenderer.ts';
import { invoiceDecider, invoiceStream } from '../domain/invoice/invoiceDecider.ts';
import { invoiceCollections, type InvoiceView } from '../projections/invoiceProjections.ts';
import { renderDocument, type Supplier } from './invoiceDocuments.ts';

export interface PdfDeps {
  renderer: PdfRenderer | null;
  artifacts: ArtifactStore;
  supplier: Supplier;
}

const pdfKey = (invoice: Pick<InvoiceView, 'organizationId' | 'id'>) => `invoices/${invoice.organizationId}/${invoice.id}.pdf`;
const inFlight = new Map<string, Promise<void>>();

/**
 * The invoice's PDF: rendered on first request, stored, its checksum recorded on the invoice (`invoice.pdf.stored`),
 * and served as stored from then on, byte for byte. Concurrent first requests share one render.
 */
export async function invoicePdf(ctx: ServiceContext, deps: PdfDeps, invoice: InvoiceView): Promise<{ stream: Readable; bytes: number; sha256: string }> {
  const stored = await storedPdf(ctx, deps, invoice);
  return { ...stored, sha256: await recordedSha256(ctx, invoice.id) };
}

/** The stored PDF, rendered and stored first when it is not there yet. */
async function storedPdf(ctx: ServiceContext, deps: PdfDeps, invoice: InvoiceView): Promise<{ stream: Readable; bytes: number }> {
  const key = pdfKey(invoice);
  let stored = await deps.artifacts.open(key);
  if (!stored) {
    if (!deps.renderer) throw new HttpError(503, 'pdf_unavailable', 'PDF rendering is unavailable here: Chromium is not installed (make up installs it; or set PUPPETEER_EXECUTABLE_PATH)');
    let job = inFlight.get(key);
    if (!job) {
      job = (async () => {
        const pdf = await deps.renderer!.render(await renderDocument(ctx, invoice.organizationId, invoice, deps.supplier));
        const sha256 = createHash('sha256').update(pdf).digest('hex');
        const writer = deps.artifacts.create(key);
        writer.stream.end(pdf);
        await writer.commit();
        await runCommand(ctx, invoiceDecider, invoiceStream(invoice.id), { type: 'StorePdf', data: { sha256, bytes: pdf.length }, metadata: { commandId: `pdf:${invoice.id}`, now: ctx.now().toISOString(), organizationId: invoice.organizationId } }, { consistent: false });
      })().finally(() => inFlight.delete(key));
      inFlight.set(key, job);
    }
    await job;
    stored = await deps.artifacts.open(key);
    if (!stored) throw new Error(`the PDF of invoice ${invoice.id} was stored but cannot be read`);
  }
  return stored;
}

async function recordedSha256(ctx: ServiceContext, invoiceId: string): Promise<string> {
  const state = await loadState(ctx.store, invoiceDecider, invoiceStream(invoiceId));
  return state.status !== 'none' && state.status !== 'draft' && state.pdfSha256 ? state.pdfSha256 : '';
}

/**
 * Renders each invoice's PDF when it is finalized, so the document exists (and its checksum is recorded) before
 * anyone asks for it. A failed render is retried by the subscription, then parked as a dead letter; the first
 * request for the PDF renders it in any case.
 */
export function startPdfRendering(ctx: ServiceContext, deps: PdfDeps): Running {
  const sub = ctx.subscriptions.subscribe('invoice.pdf-rendering.v1', { types: ['invoice.invoice.finalized'] }, async (batch) => {
    for (const stored of batch) {
      await ctx.waitForReadModels(writeOf(stored));
      const invoice = await ctx.readStore.get<InvoiceView>(invoiceCollections.invoices, (stored.data as { invoiceId: string }).invoiceId);
      if (!invoice) throw new Error(`invoice ${(stored.data as { invoiceId: string }).invoiceId} is not in the read model`);
      (await storedPdf(ctx, deps, invoice)).stream.destroy();
    }
  }, { batchSize: 10 });
  return { stop: () => sub.stop() };
}
