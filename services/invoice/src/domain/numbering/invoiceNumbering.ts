import type { InvoiceEvent } from '@curbmap/contracts';

/**
 * Gap-free invoice numbers per organization and year (the year in the organization's time zone): one stream
 * per organization and year, `invoicenumbers-<orgId>-<year>`, whose events assign 1, 2, 3… in order. An
 * assignment is an append at the expected version, so two concurrent finalizations cannot take the same
 * number (one retries with the next) and none is skipped; no lock is held, so none waits for a lock to time out.
 */
export const numberingStream = (organizationId: string, year: number) => `invoicenumbers-${organizationId}-${year}`;

export type NumberAssigned = Extract<InvoiceEvent, { type: 'invoice.number.assigned' }>;

export function formatInvoiceNumber(year: number, sequence: number): string {
  return `CM-${year}-${String(sequence).padStart(6, '0')}`;
}

/** The calendar year of an instant in an IANA time zone. */
export function yearIn(instant: string, timeZone: string): number {
  return Number(new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric' }).format(new Date(instant)));
}

export interface Numbering {
  /** The number already assigned to this invoice, if any. */
  assigned: Map<string, string>;
  /** The last sequence handed out (0: none yet) and the stream's version (-1: no stream). */
  last: number;
  version: number;
}

export function foldNumbering(events: Iterable<{ data: NumberAssigned['data']; streamVersion: number }>): Numbering {
  const state: Numbering = { assigned: new Map(), last: 0, version: -1 };
  for (const e of events) {
    state.assigned.set(e.data.invoiceId, e.data.number);
    state.last = e.data.sequence;
    state.version = e.streamVersion;
  }
  return state;
}
