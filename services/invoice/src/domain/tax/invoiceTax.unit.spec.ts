import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError, type CommandMetadata } from '@curbmap/eventsourcing';
import { deciderSpec } from '@curbmap/testing';
import { grossedUp, invoiceTotals, lineTax } from './invoiceTax.ts';
import { taxSettingsDecider } from './taxSettingsDecider.ts';

const amount = fc.integer({ min: -1_000_000_000, max: 1_000_000_000 });
const rate = fc.integer({ min: 0, max: 10_000 });

describe('invoice tax', () => {
  it('exclusive: each line\'s tax is amount × rate rounded half away from zero, and the total adds it (independent recomputation)', () => {
    fc.assert(
      fc.property(fc.array(amount, { minLength: 1, maxLength: 20 }), rate, (amounts, r) => {
        const tax = { rateBasisPoints: r, mode: 'exclusive' as const, note: null };
        let expectedTax = 0;
        for (const a of amounts) {
          // With exact decimals: a × r / 10000, and .5 away from zero.
          const exact = (BigInt(Math.abs(a)) * BigInt(r) * 10n) / 10_000n; // tenths of a minor unit, truncated
          const rounded = Number(exact / 10n) + (exact % 10n >= 5n ? 1 : 0);
          expectedTax += Math.sign(a) * rounded;
        }
        const totals = invoiceTotals(amounts.map((a) => ({ amount: a })), tax);
        expect(totals.taxAmount).toBe(expectedTax);
        expect(totals.subtotal).toBe(amounts.reduce((s, a) => s + a, 0));
        expect(totals.total).toBe(totals.subtotal + totals.taxAmount);
      }),
    );
  });

  it('inclusive: the lines hold their tax; subtotal + tax = total = the lines, each line\'s tax within half a minor unit of exact', () => {
    fc.assert(
      fc.property(fc.array(amount, { minLength: 1, maxLength: 20 }), rate, (amounts, r) => {
        const tax = { rateBasisPoints: r, mode: 'inclusive' as const, note: null };
        for (const a of amounts) expect(Math.abs(lineTax(a, tax) - (a * r) / (10_000 + r))).toBeLessThanOrEqual(0.5 + 1e-6);
        const totals = invoiceTotals(amounts.map((a) => ({ amount: a })), tax);
        expect(totals.total).toBe(amounts.reduce((s, a) => s + a, 0));
        expect(totals.subtotal + totals.taxAmount).toBe(totals.total);
      }),
    );
  });

  it('grosses a net up to the smallest amount whose net of tax reaches it, as a walk up from the net would, at any size', () => {
    const walk = (net: number, tax: { rateBasisPoints: number; mode: 'inclusive'; note: null }) => {
      let amount = net;
      while (amount - lineTax(amount, tax) < net) amount += 1;
      return amount;
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), rate, (net, r) => {
        const tax = { rateBasisPoints: r, mode: 'inclusive' as const, note: null };
        expect(grossedUp(net, tax)).toBe(walk(net, tax));
      }),
    );
    // A shortfall of 10^12 at 100 %: the smallest such amount (the walk would take 10^12 steps).
    const full = { rateBasisPoints: 10_000, mode: 'inclusive' as const, note: null };
    const amount = grossedUp(1_000_000_000_000, full);
    expect(amount - lineTax(amount, full)).toBeGreaterThanOrEqual(1_000_000_000_000);
    expect(amount - 1 - lineTax(amount - 1, full)).toBeLessThan(1_000_000_000_000);
    // Tax on top of amounts: the net itself.
    expect(grossedUp(1_234, { rateBasisPoints: 2_000, mode: 'exclusive', note: null })).toBe(1_234);
  });

  it('rounds the documented way on known values', () => {
    expect(lineTax(1_234, { rateBasisPoints: 2_000, mode: 'exclusive', note: null })).toBe(247); // 246.8
    expect(lineTax(25, { rateBasisPoints: 2_000, mode: 'exclusive', note: null })).toBe(5);
    expect(lineTax(5, { rateBasisPoints: 1_000, mode: 'exclusive', note: null })).toBe(1); // 0.5 → 1
    expect(lineTax(-5, { rateBasisPoints: 1_000, mode: 'exclusive', note: null })).toBe(-1);
    expect(lineTax(1_200, { rateBasisPoints: 2_000, mode: 'inclusive', note: null })).toBe(200);
  });
});

const metadata: CommandMetadata = { commandId: 'c', now: '2027-05-10T12:00:00.000Z', organizationId: '6f1c2a52-3b7e-4f43-9a51-0f2b8f3e7a01' };
describe('tax settings', () => {
  it('need a note for a zero rate (exemption or reverse charge); the same settings again change nothing', () => {
    const spec = deciderSpec(taxSettingsDecider);
    const set = (rateBasisPoints: number, note: string | null) => ({ type: 'SetTaxSettings' as const, data: { rateBasisPoints, mode: 'exclusive' as const, note }, metadata });
    spec.given([]).when(set(0, null)).thenThrows(ValidationError, /needs a note/);
    const reverse = { type: 'invoice.tax_settings.set' as const, data: { rateBasisPoints: 0, mode: 'exclusive' as const, note: 'Reverse charge: Art. 196 Directive 2006/112/EC' } };
    spec.given([]).when(set(0, '  Reverse charge: Art. 196 Directive 2006/112/EC ')).then([reverse]);
    spec.given([reverse]).when(set(0, 'Reverse charge: Art. 196 Directive 2006/112/EC')).then([]);
  });
});
