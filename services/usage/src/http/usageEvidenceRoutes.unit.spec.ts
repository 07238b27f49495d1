import { describe, expect, it } from 'vitest';
import { inert } from './usageEvidenceRoutes.ts';

describe('evidence cells', () => {
  it('are text a spreadsheet shows, never a formula it runs', () => {
    for (const cell of ['=HYPERLINK("http://evil")', '+1+1', '-2+3', '@SUM(A1)', '\tx', '\rx']) expect(inert(cell)).toBe(`'${cell}`);
    expect(inert('13da4a57-a21a-5696-a131-51af49f862c5')).toBe('13da4a57-a21a-5696-a131-51af49f862c5');
    expect(inert('late-export-0001')).toBe('late-export-0001');
  });
});
