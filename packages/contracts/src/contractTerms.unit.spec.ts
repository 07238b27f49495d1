import { describe, expect, it } from 'vitest';
import { annualCommitment, contractAt, contractSeatPrice, contractYear, meterTermsOfYear, type ContractVersion } from './contractTerms.ts';

const CHICAGO = 'America/Chicago';
// Effective at 07:00 on 10 May 2027 in Chicago, for three years.
const contract: ContractVersion = { contractId: 'c', version: 1, planId: 'city', effectiveFrom: '2027-05-10T12:00:00.000Z', termStart: '2027-05-10T12:00:00.000Z', termYears: 3, seatPrice: { kind: 'discount_percent', basisPoints: 1_000 }, escalatorBasisPoints: 300, minimumAnnualCommitment: { USD: 400_000 }, reference: 'SPR-2027-01' };
// Subscription years start at local midnight: 10 May in Chicago is 05:00 UTC.
const year = (y: number) => `${y}-05-10T05:00:00.000Z`;

describe('negotiated contracts', () => {
  it('count the contract\'s years by the anniversaries of its date in the organization\'s zone, within its term', () => {
    expect(contractYear(contract, year(2027), CHICAGO)).toBe(0); // the year starting the day it takes effect
    expect(contractYear(contract, year(2028), CHICAGO)).toBe(1);
    expect(contractYear(contract, year(2029), CHICAGO)).toBe(2);
    expect(contractYear(contract, year(2030), CHICAGO)).toBeNull(); // past its three years
    expect(contractYear(contract, '2027-05-09T05:00:00.000Z', CHICAGO)).toBeNull(); // before it
    // An amendment keeps the term's start: its years go on from there.
    const amended: ContractVersion = { ...contract, version: 2, effectiveFrom: '2028-06-01T05:00:00.000Z' };
    expect(contractYear(amended, year(2029), CHICAGO)).toBe(2);
    expect(contractYear(amended, year(2030), CHICAGO)).toBeNull();
    // A term started on 29 February: its anniversaries fall on 28 February in common years, as renewals do.
    const leap: ContractVersion = { ...contract, termStart: '2028-02-29T06:00:00.000Z', effectiveFrom: '2028-02-29T06:00:00.000Z' };
    expect(['2028-02-29T06:00:00.000Z', '2029-02-28T06:00:00.000Z', '2030-02-28T06:00:00.000Z', '2031-02-28T06:00:00.000Z'].map((t) => contractYear(leap, t, CHICAGO))).toEqual([0, 1, 2, null]);
  });

  it('price a seat as the plan less the discount, raised by the escalator at each renewal, compounded and rounded each year', () => {
    // 360,000 less 10 % = 324,000; +3 %: 333,720; +3 %: 333,720 + 10,011.6 → 343,732.
    expect([2027, 2028, 2029, 2030].map((y) => contractSeatPrice(contract, 'city', 'USD', 360_000, year(y), CHICAGO))).toEqual([324_000, 333_720, 343_732, null]);
    expect(contractSeatPrice(contract, 'pro', 'USD', 360_000, year(2027), CHICAGO)).toBeNull(); // another plan
    const yen: ContractVersion = { ...contract, seatPrice: { kind: 'price', amounts: { JPY: 50_000 } }, escalatorBasisPoints: 250 };
    expect(contractSeatPrice(yen, 'city', 'JPY', 54_000, year(2028), CHICAGO)).toBe(51_250);
    expect(contractSeatPrice(yen, 'city', 'USD', 360_000, year(2028), CHICAGO)).toBeNull(); // no price in that currency
    const off: ContractVersion = { ...contract, seatPrice: { kind: 'discount_amount', amounts: { USD: 10_000 } }, escalatorBasisPoints: 0 };
    expect(contractSeatPrice(off, 'city', 'USD', 360_000, year(2029), CHICAGO)).toBe(350_000);
  });

  it('take the version in effect at an instant, and its commitment within its term', () => {
    const later: ContractVersion = { ...contract, version: 2, effectiveFrom: '2028-01-01T06:00:00.000Z', minimumAnnualCommitment: { USD: 500_000 } };
    expect(contractAt([contract, later], year(2027))).toBeUndefined();
    expect(contractAt([contract, later], '2027-06-01T00:00:00.000Z')?.version).toBe(1);
    expect(contractAt([later, contract], year(2028))?.version).toBe(2);
    expect(annualCommitment(later, 'USD', year(2028), CHICAGO)).toBe(500_000);
    expect(annualCommitment(later, 'EUR', year(2028), CHICAGO)).toBeNull();
    expect(annualCommitment(contract, 'USD', year(2031), CHICAGO)).toBeNull();
  });

  it("replace a plan's usage terms meter by meter, only for the contract's plan", () => {
    const plan = { includedUsage: { api_requests: 1_000, export_jobs: 10 }, overage: { api_requests: { unitSize: 100, prices: { USD: 50 } }, export_jobs: { unitSize: 1, prices: { USD: 2_500 } } } };
    const contract = { planId: 'city', meters: { export_jobs: { includedUsage: 25 }, api_requests: { overage: { unitSize: 1_000, prices: { USD: 300 } } } } };
    expect(meterTermsOfYear(plan, contract, 'city')).toEqual({
      includedUsage: { api_requests: 1_000, export_jobs: 25 },
      overage: { api_requests: { unitSize: 1_000, prices: { USD: 300 } }, export_jobs: { unitSize: 1, prices: { USD: 2_500 } } },
    });
    // Another plan (the year changed plans), no contract, or one set before usage terms: the plan's.
    expect(meterTermsOfYear(plan, contract, 'enterprise')).toEqual(plan);
    expect(meterTermsOfYear(plan, undefined, 'city')).toEqual(plan);
    expect(meterTermsOfYear(plan, { planId: 'city' }, 'city')).toEqual(plan);
    // A plan never in the catalogue: the contract's terms alone.
    expect(meterTermsOfYear(undefined, contract, 'city')).toEqual({ includedUsage: { export_jobs: 25 }, overage: { api_requests: { unitSize: 1_000, prices: { USD: 300 } } } });
    // The plan's terms are not changed in place.
    expect(plan.includedUsage.export_jobs).toBe(10);
  });
});
