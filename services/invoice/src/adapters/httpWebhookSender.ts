import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Webhook } from 'standardwebhooks';

/** What one delivery attempt answered: `status` null when there was no HTTP answer. */
export interface WebhookResponse {
  status: number | null;
  retryAfterMs: number | null;
  error: string | null;
  durationMs: number;
}

export interface OutgoingWebhook {
  url: string;
  /** `webhook-id`: the message's id, the same on every attempt, so receivers deduplicate. */
  id: string;
  timestamp: Date;
  body: string;
  /** Every secret that signs (two during a rotation's overlap). */
  secrets: string[];
}

/** Port: sends a signed webhook (Standard Webhooks) and reports what came back; never throws. */
export interface WebhookSender {
  send(message: OutgoingWebhook): Promise<WebhookResponse>;
}

const globalUnicastV6 = ipaddr.parseCIDR('2000::/3');

/**
 * Is this address one a webhook may not be sent to (unless private networks are allowed)? Only globally routable
 * unicast addresses are allowed, by ipaddr.js's classification of the IANA special-purpose registries (loopback,
 * private, link-local and cloud metadata, shared, documentation, benchmarking, multicast, reserved…), not a hand
 * list. An IPv6 address must be global unicast (2000::/3) and not one that embeds an IPv4 address or tunnels to
 * one (IPv4-mapped and -compatible, NAT64, 6to4, Teredo): those can lead to a private IPv4 address.
 */
export function isPrivateAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true;
  const parsed = ipaddr.process(address); // an IPv4-mapped IPv6 address is judged as its IPv4 address
  if (parsed.kind() === 'ipv4') return parsed.range() !== 'unicast';
  return parsed.range() !== 'unicast' || !parsed.match(globalUnicastV6);
}

function resolveAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => dnsLookup(host, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));
}

/**
 * Why a URL cannot be a webhook endpoint, or null. Without `allowPrivateNetworks` it must be https and resolve
 * to public addresses only; the sender checks each connection again (the name may resolve elsewhere later).
 */
export async function refuseWebhookUrl(raw: string, allowPrivateNetworks: boolean): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'url is not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'url must be https';
  if (url.username || url.password) return 'url must not carry credentials: the signature authenticates us';
  if (allowPrivateNetworks) return null;
  if (url.protocol !== 'https:') return 'url must be https';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await resolveAll(host)).map((a) => a.address);
  } catch {
    return `url's host ${host} does not resolve`;
  }
  const refused = addresses.find(isPrivateAddress);
  return refused ? `url's host ${host} resolves to ${refused}, a loopback or private address: webhooks go to public addresses (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows private ones)` : null;
}

/** Retry-After as milliseconds: seconds, or an HTTP date. */
export function retryAfterMs(header: string | undefined, now: number): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Sends over node:http(s): no redirects followed, a timeout per attempt, and each connection's address checked. */
export class HttpWebhookSender implements WebhookSender {
  private readonly options: { allowPrivateNetworks: boolean; timeoutMs?: number; userAgent?: string };

  constructor(options: { allowPrivateNetworks: boolean; timeoutMs?: number; userAgent?: string }) {
    this.options = options;
  }

  send(message: OutgoingWebhook): Promise<WebhookResponse> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const timestamp = Math.floor(message.timestamp.getTime() / 1000);
    // One `v1,<sig>` per secret, space separated: a receiver on either secret verifies.
    const signature = message.secrets.map((s) => new Webhook(s).sign(message.id, message.timestamp, message.body)).join(' ');
    const url = new URL(message.url);
    const allowPrivate = this.options.allowPrivateNetworks;
    // Checked at connection time: a name that resolved to a public address when registered may not any more.
    const lookup: typeof dnsLookup = ((host: string, opts: object, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void) => {
      dnsLookup(host, { ...opts, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return callback(err, []);
        const usable = allowPrivate ? addresses : addresses.filter((a) => !isPrivateAddress(a.address));
        if (usable.length === 0) return callback(new Error(`${host} resolves to a loopback or private address only`), []);
        if ((opts as { all?: boolean }).all) return callback(null, usable);
        callback(null, usable[0]!.address, usable[0]!.family);
      });
    }) as typeof dnsLookup;
    const hostIsIp = isIP(url.hostname.replace(/^\[|\]$/g, '')) !== 0;
    return new Promise((resolve) => {
      if (hostIsIp && !allowPrivate && isPrivateAddress(url.hostname.replace(/^\[|\]$/g, ''))) {
        resolve({ status: null, retryAfterMs: null, error: `${url.hostname} is a loopback or private address`, durationMs: 0 });
        return;
      }
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: 'POST',
          // A connection per delivery: each is checked against private addresses as it opens, and a kept-alive
          // socket the receiver has since closed cannot turn a delivery into a spurious failure.
          agent: false,
          lookup,
          timeout: this.options.timeoutMs ?? 15_000,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(message.body),
            'user-agent': this.options.userAgent ?? 'CurbMap-Webhooks/1.0',
            'webhook-id': message.id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signature,
          },
        },
        (res: IncomingMessage) => {
          // Read a little of the answer for the log; the rest is drained.
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (body.length < 500) body += chunk;
          });
          res.on('end', () => {
            const status = res.statusCode ?? null;
            const ok = status !== null && status >= 200 && status < 300;
            const header = res.headers['retry-after'];
            resolve({ status, retryAfterMs: retryAfterMs(Array.isArray(header) ? header[0] : header, Date.now()), error: ok ? null : `HTTP ${status}${body ? `: ${body.slice(0, 500)}` : ''}`, durationMs: elapsed() });
          });
          res.on('error', (err) => resolve({ status: res.statusCode ?? null, retryAfterMs: null, error: err.message, durationMs: elapsed() }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.options.timeoutMs ?? 15_000} ms`)));
      req.on('error', (err) => resolve({ status: null, retryAfterMs: null, error: err.message, durationMs: elapsed() }));
      req.end(message.body);
    });
  }
}
