import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { SmtpMailer } from './smtpMailer.ts';
import { SmtpSink } from './smtpSink.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const mail = (subject: string) => ({ messageId: `<${subject}@test>`, from: 'billing@curbmap.localhost', to: ['ap@city.example'], replyTo: 'support@curbmap.localhost', subject, text: subject, html: `<p>${subject}</p>`, language: 'en', attachments: [] });

it('keeps every mail across restarts: a sink started again on the same folder writes after what is there, never over it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'curbmap-sink-'));
  dirs.push(dir);
  for (const subject of ['first', 'second']) {
    // `make up` started, one mail sent, stopped (or killed): the next start is a new sink on the same folder.
    const sink = new SmtpSink(dir);
    const mailer = new SmtpMailer(await sink.listen());
    await mailer.send(mail(subject));
    mailer.close();
    await sink.close();
  }
  const files = readdirSync(dir).sort();
  expect(files).toEqual(['000001.eml', '000002.eml']);
  expect(files.map((f) => /^Subject: (\w+)/m.exec(readFileSync(join(dir, f), 'utf8'))?.[1])).toEqual(['first', 'second']);
});
