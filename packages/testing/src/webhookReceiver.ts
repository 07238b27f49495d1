import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  /** The path it was sent to (several endpoints may share one receiver). */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/**
 * A real HTTP endpoint on loopback that records each request and answers what the test says (200 by default;
 * `answer` may return a status and headers per request).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  answer: (request: { url: string; headers: IncomingHttpHeaders; body: string }) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 });
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const url = req.url ?? '/';
        const { status, headers } = this.answer({ url, headers: req.headers, body });
        this.received.push({ url, headers: req.headers, body, status });
        res.writeHead(status, headers ?? {}).end(status < 300 ? 'ok' : 'nope');
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** Resolves once `count` requests have arrived. */
  async waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedWebhook[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} webhooks, received ${this.received.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.received.slice(0, count);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
