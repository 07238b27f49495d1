import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A mail as the organization's inbox got it. */
export interface Mail {
  to: string[];
  messageId: string;
  subject: string;
  text: string;
  attachments: string[];
}

/**
 * The organizations' mail server (SMTP_URL of every process): a real SMTP server on loopback that keeps every
 * message it accepts, so invariant 5 can hold each notification's e-mail against what happened.
 */
export class Mailbox {
  readonly mails: Mail[] = [];
  private readonly server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 25 * 1024 * 1024,
    onData: (stream, session, callback) => {
      simpleParser(stream).then(
        (parsed) => {
          const to = session.envelope.rcptTo.map((r) => r.address);
          this.mails.push({ to, messageId: parsed.messageId ?? '', subject: parsed.subject ?? '', text: parsed.text ?? '', attachments: parsed.attachments.map((a) => a.filename ?? '') });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return `smtp://127.0.0.1:${(this.server.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
