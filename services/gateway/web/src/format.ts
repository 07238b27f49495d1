/** Money from integer minor units (never through a float) and dates in the organization's zone, via Intl. */
const locale = navigator.language || 'en-US';

export function money(minor: number, currency: string): string {
  const exponent = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const decimal = exponent === 0 ? digits : `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
  return new Intl.NumberFormat(locale, { style: 'currency', currency, minimumFractionDigits: exponent, maximumFractionDigits: exponent }).format(`${minor < 0 ? '-' : ''}${decimal}` as unknown as number);
}

export const date = (iso: string | null | undefined, timeZone: string) => (iso ? new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone }).format(new Date(iso)) : '—');
export const number = (n: number | null | undefined) => (n === null || n === undefined ? '—' : new Intl.NumberFormat(locale).format(n));
