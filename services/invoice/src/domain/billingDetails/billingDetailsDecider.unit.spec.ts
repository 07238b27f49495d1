import { describe, it } from 'vitest';
import { ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { billingDetailsDecider, type BillingDetails } from './billingDetailsDecider.ts';

const metadata: CommandMetadata = { commandId: 'c', now: '2027-05-10T12:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
const details: BillingDetails = { legalName: 'Ville de Lyon', addressLines: ['1 place de la Comédie', '69001 Lyon'], country: 'FR', taxId: 'fr 12 345678901', locale: 'fr-fr' };
const set = (data: BillingDetails) => ({ type: 'SetBillingDetails' as const, data, metadata });
const stored = { type: 'invoice.billing_details.set' as const, data: { ...details, taxId: 'FR12345678901', locale: 'fr-FR' } };
const spec = deciderSpec(billingDetailsDecider);

describe('billing details', () => {
  it('are kept in canonical form (tax ID without spaces, upper case; BCP 47 locale); the same again changes nothing', () => {
    spec.given([]).when(set(details)).then([stored]);
    spec.given([stored]).when(set(details)).then([]);
  });

  it('refuse a country, locale or tax ID an invoice cannot carry', () => {
    spec.given([]).when(set({ ...details, country: 'XX' })).thenThrows(ValidationError, /ISO 3166-1/);
    spec.given([]).when(set({ ...details, locale: 'not a locale!' })).thenThrows(ValidationError, /BCP 47/);
    spec.given([]).when(set({ ...details, taxId: 'FR<script>' })).thenThrows(ValidationError, /taxId/);
  });
});
