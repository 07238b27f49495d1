import { randomUUID } from 'node:crypto';
import type { CommandMetadata } from '@curbmap/eventsourcing';
import { usageEvidencePath } from '@curbmap/contracts';
import { HttpError, type BankDetails, type ServiceContext } from '@curbmap/service-kit';
import { DEFAULT_TEMPLATE, renderInvoice, templateProblem, type InvoiceDocument } from '../domain/template/invoiceDocument.ts';
import { dueDate } from '../domain/invoice/invoiceDecider.ts';
import { formatInvoiceNumber, yearIn } from '../domain/numbering/invoiceNumbering.ts';
import { invoiceTotals } from '../domain/tax/invoiceTax.ts';
import { taxSettingsOf } from './taxSettings.ts';
import { formatDate, formatMoney } from '../domain/template/money.ts';
import { invoiceCollections as C, type BillingDetailsView, type BillingTermsView, type InvoiceOrganizationView, type InvoiceTemplateView, type InvoiceView } from '../projections/invoiceProjections.ts';
import { organizationZone } from './invoiceNumbers.ts';

/** Who issues the invoices (the platform operator), and how to pay them. */
export interface Supplier {
  legalName: string;
  addressLines: string[];
  taxId: string | null;
  remittance: string;
  /** CURBMAP_REMITTANCE_*: the account transfers go to (null: not configured). */
  bankDetails?: BankDetails | null;
}

/** The rows an invoice paid by transfer prints: the account, and the reference the transfer must carry. */
export function payToRows(bank: BankDetails, invoiceNumber: string): { label: string; value: string }[] {
  const rows: [string, string | null][] = [
    ['Account holder', bank.accountHolder],
    ['Bank', bank.bank],
    ['IBAN', bank.iban],
    ['Account number', bank.accountNumber],
    ['Routing number (ABA)', bank.routingNumber],
    ['SWIFT/BIC', bank.swiftBic],
    ['Reference', bank.reference.replaceAll('{number}', invoiceNumber)],
  ];
  return rows.filter((r): r is [string, string] => r[1] !== null).map(([label, value]) => ({ label, value }));
}

export const DEFAULT_BRANDING = { logoUrl: null, logo: null, primaryColor: '#1f4e79', footer: null };
export const templateStream = (organizationId: string) => `invoicetemplate-${organizationId}`;

export async function templateOf(ctx: ServiceContext, organizationId: string): Promise<{ source: string; custom: boolean; branding: InvoiceDocument['branding'] }> {
  const view = await ctx.readStore.get<InvoiceTemplateView>(C.templates, organizationId);
  // A logo link kept from before logos were uploads is neither shown nor served.
  return { source: view?.source ?? DEFAULT_TEMPLATE, custom: Boolean(view?.source), branding: view?.branding ? { ...DEFAULT_BRANDING, ...view.branding, logoUrl: null } : DEFAULT_BRANDING };
}

/** Sets the template (null: back to the default) and branding; a template that cannot be used is refused (400, why), nothing written. */
export async function setTemplate(ctx: ServiceContext, meta: CommandMetadata, source: string | null, branding: InvoiceDocument['branding']): Promise<void> {
  const why = source === null ? null : templateProblem(source);
  if (why) throw new HttpError(422, 'invalid_template', why);
  const streamId = templateStream(meta.organizationId);
  const result = await ctx.store.append(streamId, [{ id: randomUUID(), type: 'invoice.template.set', data: { source, branding }, occurredAt: meta.now, organizationId: meta.organizationId, correlationId: meta.correlationId ?? meta.commandId, causationId: meta.commandId }], { expectedVersion: 'any' });
  await ctx.waitForReadModels({ streamId, version: result.nextVersion, types: ['invoice.template.set'], position: result.position });
}

/**
 * What the branding preview shows: a realistic invoice of this organization (its currency, tax, zone, locale and
 * payment terms; five seats of a year), not the template check's placeholders.
 */
async function previewDocument(ctx: ServiceContext, organizationId: string, locale: string, zone: string): Promise<Omit<InvoiceDocument, 'customer' | 'supplier' | 'branding' | 'remittance'>> {
  const [terms] = await ctx.readStore.find<BillingTermsView>(C.terms, { organizationId }, { orderBy: 'activatedAt', direction: 'desc', limit: 1 });
  const currency = terms?.currency ?? 'USD';
  const tax = await taxSettingsOf(ctx, organizationId);
  const money = (minor: number) => formatMoney(minor, currency, locale);
  const issuedAt = ctx.now().toISOString();
  const yearLater = new Date(Date.parse(issuedAt) + 365 * 86_400_000).toISOString();
  const [seats, unitAmount] = [5, 360_000];
  const totals = invoiceTotals([{ amount: seats * unitAmount }], tax);
  return {
    number: formatInvoiceNumber(yearIn(issuedAt, zone), 1),
    issueDate: formatDate(issuedAt, locale, zone),
    dueDate: formatDate(dueDate(issuedAt, terms?.daysUntilDue ?? 30, zone), locale, zone),
    supplyPeriod: `${formatDate(issuedAt, locale, zone)} – ${formatDate(yearLater, locale, zone)}`,
    poNumber: terms?.poNumber ?? 'PO-0042',
    paymentTerms: 'Bank transfer by the due date',
    lines: [{ description: `${seats} × City (annual)`, quantity: seats, unitAmount: money(unitAmount), amount: money(seats * unitAmount) }],
    subtotal: money(totals.subtotal),
    tax: { rate: `${(tax.rateBasisPoints / 100).toFixed(2)} %`, amount: money(totals.taxAmount), note: tax.note },
    total: money(totals.total),
    amountDue: money(totals.total),
  };
}

/** The document of an invoice (or, without one, a realistic preview) in the organization's locale, zone and details. */
export async function documentFor(ctx: ServiceContext, organizationId: string, invoice: InvoiceView | null, supplier: Supplier, branding: InvoiceDocument['branding']): Promise<InvoiceDocument> {
  const details = await ctx.readStore.get<BillingDetailsView>(C.billingDetails, organizationId);
  const locale = details?.locale ?? 'en-US';
  const zone = await organizationZone(ctx, organizationId);
  const organization = details ? null : await ctx.readStore.get<InvoiceOrganizationView>(C.organizations, organizationId);
  const customer = { legalName: details?.legalName ?? organization?.name ?? '', addressLines: details?.addressLines ?? [], taxId: details?.taxId ?? null };
  const supplierPart = { legalName: supplier.legalName, addressLines: supplier.addressLines, taxId: supplier.taxId };
  if (!invoice) {
    const preview = await previewDocument(ctx, organizationId, locale, zone);
    return { ...preview, customer, supplier: supplierPart, branding, remittance: supplier.remittance, payTo: supplier.bankDetails ? payToRows(supplier.bankDetails, preview.number) : null };
  }
  const money = (minor: number) => formatMoney(minor, invoice.currency, locale);
  const first = invoice.lines[0];
  return {
    number: invoice.number,
    issueDate: formatDate(invoice.issuedAt, locale, zone),
    dueDate: invoice.dueAt ? formatDate(invoice.dueAt, locale, zone) : null,
    supplyPeriod: first ? `${formatDate(first.periodStart, locale, zone)} – ${formatDate(first.periodEnd, locale, zone)}` : null,
    poNumber: invoice.poNumber,
    paymentTerms: invoice.collectionMethod === 'send_invoice' ? 'Bank transfer by the due date' : 'Card, charged automatically',
    supplier: supplierPart,
    customer,
    lines: invoice.lines.map((l, i) => ({ description: l.description, quantity: l.quantity, unitAmount: money(l.unitAmount), amount: money(l.amount), evidence: l.meter ? usageEvidencePath(invoice.id, i + 1) : null })),
    subtotal: money(invoice.subtotal),
    tax: { rate: `${(invoice.tax.rateBasisPoints / 100).toFixed(2)} %`, amount: money(invoice.tax.amount), note: invoice.tax.note },
    total: money(invoice.total),
    amountDue: money(invoice.amountRemaining),
    remittance: `${supplier.remittance} (${invoice.number})`,
    payTo: invoice.collectionMethod === 'send_invoice' && supplier.bankDetails ? payToRows(supplier.bankDetails, invoice.number) : null,
    branding,
  };
}

export async function renderDocument(ctx: ServiceContext, organizationId: string, invoice: InvoiceView | null, supplier: Supplier): Promise<string> {
  const { source, branding } = await templateOf(ctx, organizationId);
  return renderInvoice(source, await documentFor(ctx, organizationId, invoice, supplier, branding));
}
