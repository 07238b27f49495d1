import nodemailer, { type Transporter } from 'nodemailer';

export interface OutgoingMail {
  /** Message-ID, derived from the notification: a resend after a crash is recognisably the same mail. */
  messageId: string;
  from: string;
  to: string[];
  replyTo: string;
  subject: string;
  text: string;
  html: string;
  language: string;
  attachments: { filename: string; content: Buffer; contentType: string }[];
}

/** Port: hands a mail to the outgoing server; rejects when the server refused it or cannot be reached. */
export interface Mailer {
  send(mail: OutgoingMail): Promise<{ accepted: string[] }>;
  close(): void;
}

/** Nodemailer over SMTP (`SMTP_URL`, e.g. smtp://user:pass@mail.example:587 or smtps://…). */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  constructor(url: string) {
    this.transport = nodemailer.createTransport(url);
  }

  async send(mail: OutgoingMail): Promise<{ accepted: string[] }> {
    const info = await this.transport.sendMail({
      messageId: mail.messageId,
      from: mail.from,
      to: mail.to,
      replyTo: mail.replyTo,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      headers: { 'Content-Language': mail.language },
      attachments: mail.attachments,
    });
    const accepted = ((info.accepted ?? []) as (string | { address: string })[]).map((a) => (typeof a === 'string' ? a : a.address));
    if (accepted.length === 0) throw new Error(`the SMTP server accepted none of ${mail.to.join(', ')}: ${info.response}`);
    return { accepted };
  }

  close(): void {
    this.transport.close();
  }
}
