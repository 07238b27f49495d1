import { describe, expect, it } from 'vitest';
import { currencyExponent, formatDate, formatMoney } from './money.ts';

describe('money on invoices', () => {
  it('uses each currency\'s exponent, exactly (no float on the way)', () => {
    expect([currencyExponent('JPY'), currencyExponent('USD'), currencyExponent('KWD')]).toEqual([0, 2, 3]);
    expect(formatMoney(123_456, 'USD', 'en-US')).toBe('$1,234.56');
    expect(formatMoney(123_456, 'JPY', 'ja-JP')).toBe('￥123,456');
    expect(formatMoney(1_234_567, 'KWD', 'en-US')).toBe('KWD\u00a01,234.567');
    expect(formatMoney(5, 'EUR', 'fr-FR')).toBe('0,05\u00a0€');
    expect(formatMoney(-90_071_992_547_409, 'USD', 'en-US')).toBe('-$900,719,925,474.09');
  });

  it('writes dates in the organization\'s zone and locale', () => {
    expect(formatDate('2027-04-10T04:59:59.999Z', 'en-US', 'America/Chicago')).toBe('April 9, 2027');
    expect(formatDate('2027-04-10T04:59:59.999Z', 'fr-FR', 'Europe/Paris')).toBe('10 avril 2027');
  });
});
