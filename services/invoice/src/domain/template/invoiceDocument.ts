import Handlebars from 'handlebars';

/** What a template renders: an invoice as a finance office reads it, every amount and date already formatted. */
export interface InvoiceDocument {
  number: string;
  issueDate: string;
  dueDate: string | null;
  supplyPeriod: string | null;
  poNumber: string | null;
  paymentTerms: string;
  supplier: { legalName: string; addressLines: string[]; taxId: string | null };
  customer: { legalName: string; addressLines: string[]; taxId: string | null };
  /** `evidence`: where an overage line's usage is listed (the API path of its CSV), for an auditor to check it. */
  lines: { description: string; quantity: number; unitAmount: string; amount: string; evidence?: string | null }[];
  subtotal: string;
  tax: { rate: string; amount: string; note: string | null };
  total: string;
  amountDue: string;
  remittance: string;
  /** The operator's account for a bank transfer, as label and value rows (null: paid by card, or not configured). */
  payTo?: { label: string; value: string }[] | null;
  branding: { logoUrl: string | null; logo?: string | null; primaryColor: string; footer: string | null };
}

/** The fields a template must show (EU VAT Art. 226 and a finance office's needs): a custom template that leaves one out is refused. */
export const REQUIRED_FIELDS = ['number', 'issueDate', 'supplier.legalName', 'customer.legalName', 'customer.taxId', 'subtotal', 'tax.amount', 'total', 'dueDate'] as const;

const handlebars = Handlebars.create();

export const DEFAULT_TEMPLATE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Invoice {{number}}</title>
<style>
  body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 11px; color: #222; margin: 32px; }
  h1 { color: {{branding.primaryColor}}; font-size: 20px; margin: 0 0 12px; }
  table { width: 100%; border-collapse: collapse; margin-top: 16px; }
  th, td { padding: 6px 4px; border-bottom: 1px solid #ddd; text-align: left; }
  td.num, th.num { text-align: right; }
  .parties { display: flex; justify-content: space-between; margin-top: 16px; }
  .totals td { border: none; }
  footer { margin-top: 32px; color: #666; }
</style></head>
<body>
  {{#if branding.logo}}<img src="{{branding.logo}}" alt="" style="max-height:48px">{{/if}}
  <h1>Invoice {{number}}</h1>
  <div>Issue date: {{issueDate}}{{#if dueDate}} · Due: {{dueDate}}{{/if}}{{#if supplyPeriod}} · Supply period: {{supplyPeriod}}{{/if}}</div>
  {{#if poNumber}}<div>PO: {{poNumber}}</div>{{/if}}
  <div class="parties">
    <div><strong>{{supplier.legalName}}</strong>{{#each supplier.addressLines}}<br>{{this}}{{/each}}{{#if supplier.taxId}}<br>Tax ID: {{supplier.taxId}}{{/if}}</div>
    <div><strong>{{customer.legalName}}</strong>{{#each customer.addressLines}}<br>{{this}}{{/each}}{{#if customer.taxId}}<br>Tax ID: {{customer.taxId}}{{/if}}</div>
  </div>
  <table>
    <tr><th>Description</th><th class="num">Qty</th><th class="num">Unit</th><th class="num">Amount</th></tr>
    {{#each lines}}<tr><td>{{description}}{{#if evidence}}<br><small>Usage behind this line: GET {{evidence}}</small>{{/if}}</td><td class="num">{{quantity}}</td><td class="num">{{unitAmount}}</td><td class="num">{{amount}}</td></tr>{{/each}}
  </table>
  <table class="totals">
    <tr><td class="num">Taxable amount</td><td class="num">{{subtotal}}</td></tr>
    <tr><td class="num">Tax {{tax.rate}}{{#if tax.note}} ({{tax.note}}){{/if}}</td><td class="num">{{tax.amount}}</td></tr>
    <tr><td class="num"><strong>Total</strong></td><td class="num"><strong>{{total}}</strong></td></tr>
    <tr><td class="num">Amount due</td><td class="num">{{amountDue}}</td></tr>
  </table>
  <p>Payment terms: {{paymentTerms}}</p>
  <p>Remittance: {{remittance}}</p>
  {{#if payTo}}<table class="pay-to"><tr><th colspan="2">Pay by bank transfer to</th></tr>{{#each payTo}}<tr><td>{{label}}</td><td>{{value}}</td></tr>{{/each}}</table>{{/if}}
  <footer>{{#if branding.footer}}{{branding.footer}}{{/if}}</footer>
</body></html>`;

/** A sample document whose every required field has a value no template would contain by chance. */
export function sampleDocument(): InvoiceDocument {
  return {
    number: 'CM-2099-000123',
    issueDate: 'SAMPLE-ISSUE-DATE',
    dueDate: 'SAMPLE-DUE-DATE',
    supplyPeriod: 'SAMPLE-PERIOD',
    poNumber: 'PO-SAMPLE',
    paymentTerms: 'Net 30 (sample)',
    supplier: { legalName: 'SAMPLE-SUPPLIER-NAME', addressLines: ['1 Sample Street'], taxId: 'SAMPLE-SUPPLIER-TAX' },
    customer: { legalName: 'SAMPLE-CUSTOMER-NAME', addressLines: ['2 Sample Avenue'], taxId: 'SAMPLE-CUSTOMER-TAX' },
    lines: [{ description: 'Sample line', quantity: 1, unitAmount: 'SAMPLE-UNIT', amount: 'SAMPLE-LINE-AMOUNT' }],
    subtotal: 'SAMPLE-SUBTOTAL',
    tax: { rate: '20 %', amount: 'SAMPLE-TAX-AMOUNT', note: null },
    total: 'SAMPLE-TOTAL',
    amountDue: 'SAMPLE-AMOUNT-DUE',
    remittance: 'SAMPLE-REMITTANCE',
    branding: { logoUrl: null, logo: null, primaryColor: '#1f4e79', footer: null },
  };
}

const valueAt = (doc: InvoiceDocument, path: string) => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], doc) as string;

/**
 * Why a template cannot be used (it does not compile, or renders without a required field), or null. Rendering a
 * sample whose values are distinctive tells which field is missing.
 */
export function templateProblem(source: string): string | null {
  let html: string;
  try {
    html = handlebars.compile(source, { strict: false, noEscape: false })(sampleDocument());
  } catch (err) {
    return `the template does not compile: ${(err as Error).message.split('\n')[0]}`;
  }
  const sample = sampleDocument();
  const missing = REQUIRED_FIELDS.filter((f) => !html.includes(valueAt(sample, f)));
  return missing.length > 0 ? `the template does not show ${missing.map((f) => `{{${f}}}`).join(', ')}` : null;
}

/** The HTML of an invoice (values escaped by Handlebars: a customer name cannot inject markup). */
export function renderInvoice(source: string, doc: InvoiceDocument): string {
  return handlebars.compile(source)(doc);
}
