import type { InvoiceEvent, TaxSettings } from '@curbmap/contracts';
import { ValidationError, type Command, type Decider } from '@curbmap/eventsourcing';

/** An organization's tax (stream invoicetax-<orgId>), set by the platform operator: a fact about money. */
export const taxSettingsStream = (organizationId: string) => `invoicetax-${organizationId}`;

export type TaxSettingsSet = Extract<InvoiceEvent, { type: 'invoice.tax_settings.set' }>;
export type SetTaxSettings = Command<'SetTaxSettings', TaxSettings>;

export const taxSettingsDecider: Decider<SetTaxSettings, TaxSettingsSet, { settings: TaxSettings | null }> = {
  initialState: () => ({ settings: null }),
  decide(command, state) {
    const settings = { ...command.data, note: command.data.note?.trim() || null };
    // A zero rate must say why (exemption, reverse charge): an invoice without tax names its reason.
    if (settings.rateBasisPoints === 0 && !settings.note) throw new ValidationError('a zero tax rate needs a note: the exemption or reverse-charge reason the invoice must show');
    if (state.settings && JSON.stringify(state.settings) === JSON.stringify(settings)) return [];
    return [{ type: 'invoice.tax_settings.set', data: settings }];
  },
  evolve(_state, event) {
    return { settings: event.data };
  },
};
