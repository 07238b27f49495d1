// The few fields of Stripe objects we read, typed loosely: webhooks carry whatever API version the account uses.
export interface StripeEventLike {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  data: { object: StripeObject };
}

export type StripeObject = Record<string, unknown> & { id?: string; object?: string; metadata?: Record<string, string> | null; customer?: unknown; created?: number };

/**
 * What makes a parsed body a Stripe event we can store, or why not. A signed body can still be malformed (a
 * test tool, an integration bug): answering 400 stops Stripe's retries, where a 500 would bring them back for days.
 */
export function stripeEventProblem(event: unknown): string | null {
  if (!event || typeof event !== 'object') return 'the body is not a Stripe event';
  const e = event as Partial<Record<keyof StripeEventLike, unknown>>;
  if (typeof e.id !== 'string' || !/^evt_\w+$/.test(e.id)) return 'id is missing or not an event id (evt_…)';
  if (typeof e.type !== 'string' || !/^[a-z_]+(\.[a-z_]+)+$/.test(e.type)) return 'type is missing or malformed';
  // Seconds since 1970, within what a Date can hold and before 2200.
  if (typeof e.created !== 'number' || !Number.isSafeInteger(e.created) || e.created <= 0 || e.created >= 7_258_118_400) return 'created is missing or not a time in seconds';
  if (typeof e.livemode !== 'boolean') return 'livemode is missing or not a boolean';
  const object = (e.data as { object?: unknown } | undefined)?.object;
  if (!object || typeof object !== 'object') return 'data.object is missing';
  return null;
}

export const NO_ORGANIZATION = '00000000-0000-0000-0000-000000000000';

export function str(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { id?: unknown }).id === 'string') return (value as { id: string }).id;
  return null;
}

export function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** Our organization id, as we put it in the metadata of every object we create at Stripe. */
export function organizationFromMetadata(object: StripeObject): string | null {
  const fromObject = object.metadata?.['organizationId'];
  if (fromObject) return fromObject;
  // Invoices carry their subscription's metadata (API 2025+: parent.subscription_details; before: subscription_details).
  const details = (object['parent'] as { subscription_details?: { metadata?: Record<string, string> } } | undefined)?.subscription_details ?? (object['subscription_details'] as { metadata?: Record<string, string> } | undefined);
  return details?.metadata?.['organizationId'] ?? null;
}
