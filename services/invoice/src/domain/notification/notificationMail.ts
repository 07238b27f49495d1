import type { NotificationKind } from '@curbmap/contracts';
import { formatDate, formatMoney } from '../template/money.ts';

/** What a notification says, in the organization's locale (money and dates through Intl). */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
  language: string;
}

type Data = Record<string, unknown>;
type Fmt = { money(minor: unknown, currency: unknown): string; date(instant: unknown): string };
type Phrase = (d: Data, f: Fmt) => [subject: string, body: string];
type Phrases = Record<NotificationKind, Phrase>;

const en: Phrases = {
  'invoice.issued': (d, f) => [`Invoice ${d['number']} from CurbMap`, `Invoice ${d['number']} for ${f.money(d['total'], d['currency'])} is attached.${d['dueAt'] ? ` It is due on ${f.date(d['dueAt'])}.` : ''}`],
  // Worded from the due date, not the schedule's day: a reminder sent a day late still says what is true.
  'invoice.payment_reminder': (d, f) => {
    const past = Date.parse(String(d['dueAt'])) < Date.parse(String(d['remindedAt'] ?? d['dueAt']));
    return [`Reminder: invoice ${d['number']} ${past ? 'was' : 'is'} due on ${f.date(d['dueAt'])}`, `${f.money(d['amountRemaining'], d['currency'])} of invoice ${d['number']} ${past ? 'was' : 'is'} due on ${f.date(d['dueAt'])} and is not yet paid. Please arrange payment, quoting the invoice number. If you have paid already, thank you: please ignore this reminder.`];
  },
  'invoice.overdue': (d, f) => [`Invoice ${d['number']} is overdue`, `Your invoice ${d['number']} was due on ${f.date(d['dueAt'])} and is not yet paid. Please arrange payment, quoting the invoice number.`],
  'payment.received': (d, f) => [`Payment received: ${f.money(d['amount'], d['currency'])}`, `We received ${f.money(d['amount'], d['currency'])} on ${f.date(d['receivedAt'])}${d['invoiceNumber'] ? ` for invoice ${d['invoiceNumber']}` : ''}. Thank you.`],
  'payment.failed': (d, f) => [`Payment of ${f.money(d['amount'], d['currency'])} failed`, `A payment of ${f.money(d['amount'], d['currency'])} failed: ${d['failureMessage']}. Please update your payment method.`],
  'subscription.renewal_due': (d, f) => [
    `Your CurbMap subscription renews in ${d['daysBefore']} days`,
    `Your ${d['planName']} subscription (${d['seats']} seats) renews on ${f.date(d['renewsAt'])} for another year.${d['priceChanges'] ? ` Its price changes from ${f.money(d['unitAmount'], d['currency'])} to ${f.money(d['renewalUnitAmount'], d['currency'])} per seat per year.` : ''}`,
  ],
  'quota.threshold_reached': (d) => [`${d['threshold']}% of your included ${d['meter']} used`, `This subscription year you used ${d['use']} of the ${d['included']} ${d['meter']} your plan includes (${d['threshold']}%).${d['threshold'] === 100 ? ' Further use is billed as overage.' : ''}`],
  'export.completed': (d) => [`Your export is ready`, `Export ${d['exportId']} is complete: ${d['rows']} rows. Download it from the API before the link expires.`],
  'webhook_endpoint.disabled': (d) => [`Webhook endpoint disabled`, `We disabled your webhook endpoint ${d['url']}: ${d['detail']}. Fix it and enable it again to receive events.`],
};

const de: Phrases = {
  'invoice.issued': (d, f) => [`Rechnung ${d['number']} von CurbMap`, `Anbei die Rechnung ${d['number']} über ${f.money(d['total'], d['currency'])}.${d['dueAt'] ? ` Sie ist am ${f.date(d['dueAt'])} fällig.` : ''}`],
  'invoice.payment_reminder': (d, f) => {
    const past = Date.parse(String(d['dueAt'])) < Date.parse(String(d['remindedAt'] ?? d['dueAt']));
    return [`Erinnerung: Rechnung ${d['number']} ${past ? 'war' : 'ist'} am ${f.date(d['dueAt'])} fällig`, `${f.money(d['amountRemaining'], d['currency'])} der Rechnung ${d['number']} ${past ? 'waren' : 'sind'} am ${f.date(d['dueAt'])} fällig und noch nicht bezahlt. Bitte überweisen Sie den Betrag unter Angabe der Rechnungsnummer. Haben Sie bereits bezahlt, danken wir Ihnen: Diese Erinnerung ist dann gegenstandslos.`];
  },
  'invoice.overdue': (d, f) => [`Rechnung ${d['number']} ist überfällig`, `Ihre Rechnung ${d['number']} war am ${f.date(d['dueAt'])} fällig und ist noch nicht bezahlt. Bitte überweisen Sie den Betrag unter Angabe der Rechnungsnummer.`],
  'payment.received': (d, f) => [`Zahlung erhalten: ${f.money(d['amount'], d['currency'])}`, `Wir haben am ${f.date(d['receivedAt'])} ${f.money(d['amount'], d['currency'])} erhalten${d['invoiceNumber'] ? ` (Rechnung ${d['invoiceNumber']})` : ''}. Vielen Dank.`],
  'payment.failed': (d, f) => [`Zahlung über ${f.money(d['amount'], d['currency'])} fehlgeschlagen`, `Eine Zahlung über ${f.money(d['amount'], d['currency'])} ist fehlgeschlagen: ${d['failureMessage']}. Bitte aktualisieren Sie Ihre Zahlungsmethode.`],
  'subscription.renewal_due': (d, f) => [
    `Ihr CurbMap-Abonnement verlängert sich in ${d['daysBefore']} Tagen`,
    `Ihr Abonnement ${d['planName']} (${d['seats']} Plätze) verlängert sich am ${f.date(d['renewsAt'])} um ein weiteres Jahr.${d['priceChanges'] ? ` Der Preis ändert sich von ${f.money(d['unitAmount'], d['currency'])} auf ${f.money(d['renewalUnitAmount'], d['currency'])} pro Platz und Jahr.` : ''}`,
  ],
  'quota.threshold_reached': (d) => [`${d['threshold']} % des enthaltenen Kontingents ${d['meter']} genutzt`, `In diesem Abonnementjahr haben Sie ${d['use']} von ${d['included']} enthaltenen ${d['meter']} genutzt (${d['threshold']} %).${d['threshold'] === 100 ? ' Weitere Nutzung wird als Mehrverbrauch berechnet.' : ''}`],
  'export.completed': (d) => [`Ihr Export ist fertig`, `Export ${d['exportId']} ist abgeschlossen: ${d['rows']} Zeilen. Laden Sie ihn über die API herunter, bevor der Link abläuft.`],
  'webhook_endpoint.disabled': (d) => [`Webhook-Endpunkt deaktiviert`, `Wir haben Ihren Webhook-Endpunkt ${d['url']} deaktiviert: ${d['detail']}. Beheben Sie den Fehler und aktivieren Sie ihn wieder.`],
};

const fr: Phrases = {
  'invoice.issued': (d, f) => [`Facture ${d['number']} de CurbMap`, `Veuillez trouver ci-joint la facture ${d['number']} d’un montant de ${f.money(d['total'], d['currency'])}.${d['dueAt'] ? ` Échéance : ${f.date(d['dueAt'])}.` : ''}`],
  'invoice.payment_reminder': (d, f) => {
    const past = Date.parse(String(d['dueAt'])) < Date.parse(String(d['remindedAt'] ?? d['dueAt']));
    return [`Rappel : la facture ${d['number']} ${past ? 'était due' : 'est due'} le ${f.date(d['dueAt'])}`, `${f.money(d['amountRemaining'], d['currency'])} de la facture ${d['number']} ${past ? 'étaient dus' : 'sont dus'} le ${f.date(d['dueAt'])} et restent impayés. Merci de procéder au règlement en indiquant le numéro de facture. Si vous avez déjà payé, merci : ignorez ce rappel.`];
  },
  'invoice.overdue': (d, f) => [`La facture ${d['number']} est en retard`, `Votre facture ${d['number']} était due le ${f.date(d['dueAt'])} et reste impayée. Merci de procéder au règlement en indiquant le numéro de facture.`],
  'payment.received': (d, f) => [`Paiement reçu : ${f.money(d['amount'], d['currency'])}`, `Nous avons reçu ${f.money(d['amount'], d['currency'])} le ${f.date(d['receivedAt'])}${d['invoiceNumber'] ? ` pour la facture ${d['invoiceNumber']}` : ''}. Merci.`],
  'payment.failed': (d, f) => [`Échec du paiement de ${f.money(d['amount'], d['currency'])}`, `Un paiement de ${f.money(d['amount'], d['currency'])} a échoué : ${d['failureMessage']}. Merci de mettre à jour votre moyen de paiement.`],
  'subscription.renewal_due': (d, f) => [
    `Votre abonnement CurbMap est renouvelé dans ${d['daysBefore']} jours`,
    `Votre abonnement ${d['planName']} (${d['seats']} postes) est renouvelé le ${f.date(d['renewsAt'])} pour un an.${d['priceChanges'] ? ` Son prix passe de ${f.money(d['unitAmount'], d['currency'])} à ${f.money(d['renewalUnitAmount'], d['currency'])} par poste et par an.` : ''}`,
  ],
  'quota.threshold_reached': (d) => [`${d['threshold']} % de votre quota ${d['meter']} utilisé`, `Cette année d’abonnement, vous avez utilisé ${d['use']} sur ${d['included']} ${d['meter']} inclus (${d['threshold']} %).${d['threshold'] === 100 ? ' Toute utilisation supplémentaire est facturée en dépassement.' : ''}`],
  'export.completed': (d) => [`Votre export est prêt`, `L’export ${d['exportId']} est terminé : ${d['rows']} lignes. Téléchargez-le depuis l’API avant l’expiration du lien.`],
  'webhook_endpoint.disabled': (d) => [`Point de terminaison webhook désactivé`, `Nous avons désactivé votre point de terminaison ${d['url']} : ${d['detail']}. Corrigez-le puis réactivez-le.`],
};

const languages: Record<string, Phrases> = { en, de, fr };

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The mail of a notification in the organization's locale: its language when we have it (English, German,
 * French; English otherwise), its conventions for money and dates whatever the language.
 */
export function composeMail(kind: NotificationKind, data: Data, to: { organizationName: string; locale: string; timeZone: string }): MailContent {
  const language = to.locale.split('-')[0]!.toLowerCase();
  const phrases = languages[language] ?? en;
  const fmt: Fmt = {
    money: (minor, currency) => (typeof minor === 'number' && typeof currency === 'string' ? formatMoney(minor, currency, to.locale) : String(minor)),
    date: (instant) => (typeof instant === 'string' ? formatDate(instant, to.locale, to.timeZone) : ''),
  };
  const [subject, body] = phrases[kind](data, fmt);
  const signature = 'CurbMap';
  const text = `${to.organizationName}\n\n${body}\n\n— ${signature}\n`;
  const html = `<!doctype html><html lang="${escapeHtml(languages[language] ? language : 'en')}"><body style="font-family:sans-serif"><p>${escapeHtml(to.organizationName)}</p><p>${escapeHtml(body)}</p><p>— ${signature}</p></body></html>`;
  return { subject, text, html, language: languages[language] ? language : 'en' };
}
