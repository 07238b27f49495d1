import type { TaxSettings } from '@curbmap/contracts';
import type { ServiceContext } from '@curbmap/service-kit';
import { NO_TAX } from '../domain/tax/invoiceTax.ts';
import { invoiceCollections, type TaxSettingsView } from '../projections/invoiceProjections.ts';

/** The tax an organization's next invoice carries (none until the operator sets it). */
export async function taxSettingsOf(ctx: ServiceContext, organizationId: string): Promise<TaxSettings> {
  const view = await ctx.readStore.get<TaxSettingsView>(invoiceCollections.taxSettings, organizationId);
  return view ? { rateBasisPoints: view.rateBasisPoints, mode: view.mode, note: view.note } : NO_TAX;
}
