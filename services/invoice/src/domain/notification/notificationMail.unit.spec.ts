import { describe, expect, it } from 'vitest';
import { composeMail } from './notificationMail.ts';

describe('notification mail', () => {
  const invoice = { number: 'CM-2027-000001', total: 123_456, currency: 'EUR', dueAt: '2027-04-10T21:59:59.999Z' };
  it('speaks the organization\'s language, with its money and date conventions', () => {
    const de = composeMail('invoice.issued', invoice, { organizationName: 'Stadt Köln', locale: 'de-DE', timeZone: 'Europe/Berlin' });
    expect(de.subject).toBe('Rechnung CM-2027-000001 von CurbMap');
    expect(de.text).toContain('1.234,56\u00a0€');
    expect(de.text).toContain('10. April 2027');
    expect(de.language).toBe('de');
    const us = composeMail('invoice.issued', { ...invoice, currency: 'USD' }, { organizationName: 'City of Springfield', locale: 'en-US', timeZone: 'America/Chicago' });
    expect(us.text).toContain('$1,234.56');
    expect(us.text).toContain('April 10, 2027');
  });

  it('falls back to English words in another locale, keeping that locale\'s formats; HTML is escaped', () => {
    const ja = composeMail('payment.received', { amount: 5000, currency: 'JPY', receivedAt: '2027-04-01T00:00:00Z', invoiceNumber: null }, { organizationName: '<b>Tokyo</b>', locale: 'ja-JP', timeZone: 'Asia/Tokyo' });
    expect(ja.subject).toBe('Payment received: ￥5,000');
    expect(ja.language).toBe('en');
    expect(ja.html).toContain('&#60;b&#62;Tokyo');
    expect(ja.html).not.toContain('<b>Tokyo');
  });
});
