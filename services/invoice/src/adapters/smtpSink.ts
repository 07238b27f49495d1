import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: Buffer;
  file: string | null;
}

/**
 * A real SMTP server on loopback that keeps what it receives: `make up` sends mail here when no SMTP_URL is set
 * (each message written to `<dir>/<n>.eml`, numbered on from what the folder holds), and tests read what arrived.
 */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  private waiters: (() => void)[] = [];
  private server: SMTPServer;
  private port = 0;

  private readonly dir: string | null;
  /** The last file's number: a sink started again on the same folder (a restart) goes on after it. */
  private last = 0;

  constructor(dir: string | null = null) {
    this.dir = dir;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      this.last = readdirSync(dir).reduce((max, f) => Math.max(max, Number(/^(\d+)\.eml$/.exec(f)?.[1] ?? 0)), 0);
    }
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      size: 25 * 1024 * 1024,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          let file: string | null = null;
          if (this.dir) {
            // Never over a file already there (another sink on the same folder): the next free number.
            for (;;) {
              this.last += 1;
              file = join(this.dir, `${String(this.last).padStart(6, '0')}.eml`);
              try {
                writeFileSync(file, raw, { flag: 'wx' });
                break;
              } catch (err) {
                if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
              }
            }
          }
          const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
          this.received.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw, file });
          for (const w of this.waiters.splice(0)) w();
          callback();
        });
      },
    });
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    this.port = (this.server.server.address() as AddressInfo).port;
    return this.url;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Resolves once `count` messages have arrived (or rejects after timeoutMs). */
  async waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedMail[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} mails, received ${this.received.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received.slice(0, count);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
