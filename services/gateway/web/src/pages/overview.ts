import { api, ApiError, type Me } from '../api.ts';
import { empty, h } from '../dom.ts';
import { date, money, number } from '../format.ts';

interface Subscription { status: string; planName?: string; planId: string; seats: number; currency: string; unitAmount: number; annualAmount: number; collectionMethod: string; currentPeriodStart: string; currentPeriodEnd: string; cancelAtPeriodEnd: boolean }
interface Invoice { id: string; number: string; status: string; currency: string; total: number; amountRemaining: number; dueAt: string | null }
interface Quotas { meters: { meter: string; use: number; included: number; percentage: number | null }[] }
type SeatPrice = { kind: 'price'; amounts: Record<string, number> } | { kind: 'discount_percent'; basisPoints: number } | { kind: 'discount_amount'; amounts: Record<string, number> } | null;
type MeterTerms = { includedUsage?: number; overage?: { unitSize: number; prices: Record<string, number> } };
interface ContractVersion { version: number; planId: string; effectiveFrom: string; termYears: number; seatPrice: SeatPrice; escalatorBasisPoints: number; minimumAnnualCommitment: Record<string, number> | null; reference: string | null; meters?: Record<string, MeterTerms> }
interface Contract { current: ContractVersion | null; versions: ContractVersion[] }

const percent = (basisPoints: number) => `${(basisPoints / 100).toLocaleString('en-US', { maximumFractionDigits: 2 })} %`;
const amounts = (byCurrency: Record<string, number>) => Object.entries(byCurrency).map(([c, a]) => money(a, c)).join(', ');
function seatTerms(seat: SeatPrice): string {
  if (!seat) return "the plan's";
  if (seat.kind === 'price') return `${amounts(seat.amounts)} per seat per year`;
  if (seat.kind === 'discount_percent') return `the plan's less ${percent(seat.basisPoints)}`;
  return `the plan's less ${amounts(seat.amounts)}`;
}

/** A meter's negotiated usage terms, e.g. "2,000,000 included a year; overage $4.00 per 1,000". */
function meterTerms(m: MeterTerms): string {
  const parts: string[] = [];
  if (m.includedUsage !== undefined) parts.push(`${number(m.includedUsage)} included a year`);
  if (m.overage) parts.push(`overage ${amounts(m.overage.prices)} per ${number(m.overage.unitSize)}`);
  return parts.join('; ');
}

const term = (label: string, value: string | Node) => [h('dt', {}, label), h('dd', {}, value)];

/** Plan, seats, period and renewal, collection method, next invoice estimate, payment status, open alerts. */
export async function overviewPage(main: HTMLElement, me: Me): Promise<void> {
  const tz = me.organization.timeZone;
  const [sub, open, quotas, contract] = await Promise.all([
    api<Subscription>('/v1/subscription').catch((err) => (err instanceof ApiError && err.status === 404 ? null : Promise.reject(err))),
    api<{ data: Invoice[] }>('/v1/invoices?status=open&limit=100'),
    api<Quotas>('/v1/usage/quotas').catch(() => ({ meters: [] })),
    api<Contract>('/v1/organization/contract').catch((): Contract => ({ current: null, versions: [] })),
  ]);
  // The contract in effect, or else the next one to take effect.
  const shown = contract.current ?? [...contract.versions].filter((v) => v.effectiveFrom > new Date().toISOString()).sort((a, b) => a.effectiveFrom.localeCompare(b.effectiveFrom))[0] ?? null;
  const alerts = quotas.meters.filter((m) => (m.percentage ?? 0) >= 80);
  const due = open.data.reduce((sum, i) => sum + i.amountRemaining, 0);
  const currency = open.data[0]?.currency ?? sub?.currency ?? me.organization.currency;
  const overdue = open.data.filter((i) => i.dueAt && i.dueAt < new Date().toISOString());
  main.replaceChildren(
    h('h1', {}, 'Overview'),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'plan-title' },
      h('h2', { id: 'plan-title' }, 'Plan'),
      sub
        ? h('dl', { class: 'terms' },
            ...term('Plan', sub.planName ?? sub.planId),
            ...term('Seats', number(sub.seats)),
            ...term('Status', sub.status.replace('_', ' ')),
            ...term('Current period', `${date(sub.currentPeriodStart, tz)} – ${date(sub.currentPeriodEnd, tz)}`),
            ...term(sub.cancelAtPeriodEnd ? 'Ends on' : 'Renews on', date(sub.currentPeriodEnd, tz)),
            ...term('Collection', sub.collectionMethod === 'send_invoice' ? 'Invoice, paid by bank transfer' : 'Card, charged automatically'),
            ...term('Next invoice (estimate)', sub.cancelAtPeriodEnd ? 'none: the subscription ends' : `${money(sub.annualAmount, sub.currency)} at renewal, plus any overage`),
          )
        : empty('No subscription yet.'),
    ),
    ...(shown
      ? [
          h(
            'section',
            { class: 'card', 'aria-labelledby': 'contract-title' },
            h('h2', { id: 'contract-title' }, 'Contract'),
            h('dl', { class: 'terms' },
              ...term('Reference', shown.reference ?? `version ${shown.version}`),
              ...term(contract.current ? 'In effect since' : 'Takes effect on', date(shown.effectiveFrom, tz)),
              ...term('Term', `${shown.termYears} year${shown.termYears === 1 ? '' : 's'} on ${shown.planId}`),
              ...term('Seat price', seatTerms(shown.seatPrice)),
              ...term('Escalator', shown.escalatorBasisPoints ? `+${percent(shown.escalatorBasisPoints)} at each renewal` : 'none'),
              ...term('Minimum annual commitment', shown.minimumAnnualCommitment ? `${amounts(shown.minimumAnnualCommitment)}, the shortfall invoiced at each year's end` : 'none'),
              // Each meter whose usage terms the contract sets (the plan's otherwise).
              ...Object.entries(shown.meters ?? {}).flatMap(([meter, m]) => term(`Usage: ${meter}`, meterTerms(m))),
            ),
          ),
        ]
      : []),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'pay-title' },
      h('h2', { id: 'pay-title' }, 'Payment status'),
      open.data.length === 0
        ? h('p', { class: 'ok' }, 'Nothing is owed.')
        : h('p', { class: overdue.length ? 'warn' : '' }, `${open.data.length} open invoice${open.data.length === 1 ? '' : 's'}, ${money(due, currency)} due${overdue.length ? `; ${overdue.length} overdue` : ''}.`),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'alerts-title' },
      h('h2', { id: 'alerts-title' }, 'Alerts'),
      alerts.length === 0 ? empty('No usage alerts.') : h('ul', {}, ...alerts.map((a) => h('li', { class: (a.percentage ?? 0) >= 100 ? 'warn' : '' }, `${a.meter}: ${number(a.use)} of ${number(a.included)} included (${Math.floor(a.percentage ?? 0)} %)`))),
    ),
  );
}
