// The few fields of Stripe objects we read, typed loosely: webhooks carry whatever API version the account uses.
export interface StripeEventLike {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  data: { object: StripeObject };
}

export type StripeObject = Record<string, unknown> & { id?: string; object?: string; metadata?: Record<string, string> | null; customer?: unknown; created?: number };

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
