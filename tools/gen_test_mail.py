"""Write the analyzer's hand-written test mail: negatives and bounces of many MTAs.

Usage: ``.venv/bin/python tools/gen_test_mail.py`` (rewrites both folders).

* ``tests/data/negatives/``: what else lands in a bounce mailbox. Human
  replies (some quoting a bounce or "Mail Delivery Subsystem"), auto-replies,
  read receipts (RFC 8098), success and delay DSNs (RFC 3464), digests,
  forwards, list mail, challenge-response requests, spam and newsletters with
  numbers such as "RFC 2046, 5.1.5" in their prose.
* ``tests/data/written/``: bounces as the MTAs and providers write them
  (Postfix, Exim, Sendmail V5 and V8, qmail, Exchange 2003, 2007+ and
  Office 365, Gmail, Yahoo, Lotus Domino in English and ISO-2022-JP, GroupWise,
  webmail portals), one per kind of error of issue 13, their texts taken from
  the vendors' documentation and the MTAs' sources.

Everything here was written for this project (no public test corpus was
copied, see the developers' guide). Each folder has a ``labels.json``:
``kind`` is what the analyzer must report (``not_bounce``, ``autoreply``,
``challenge``, ``delay``: a bounce that is never hard, ``bounce``), and for
bounces ``email``, ``type``, ``hard`` and ``status`` of the failed recipient;
``bounce`` and ``expect`` repeat them in the format of
``tests/data/bounces/README.md`` so the benches read every corpus alike.
Deterministic: the same files on every run.
"""

from __future__ import annotations

import json
from email.header import Header
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEGATIVES = ROOT / "tests" / "data" / "negatives"
WRITTEN = ROOT / "tests" / "data" / "written"

VERP = "return+b.4711.9f86d081884c7d65@news.example.org"
DATE = "Tue, 14 May 2024 09:12:45 +0200"
ORIGINAL = (
    "From: Example News <news@example.org>\n"
    "To: {rcpt}\n"
    "Subject: May newsletter\n"
    f"Date: {DATE}\n"
    "Message-ID: <20240514071245.4711@news.example.org>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n\n"
    "Dear reader,\n\nOur May events are online.\n"
)


def original(rcpt: str) -> str:
    return ORIGINAL.format(rcpt=rcpt)


def headers(sender: str, subject: str, to: str = VERP, extra: str = "",
            message_id: str = "<n@mx.example.net>") -> str:
    return ("Return-Path: <>\n" if "MAILER-DAEMON" in sender or "postmaster" in sender.lower()
            else "") + (f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {DATE}\n"
                        f"Message-ID: {message_id}\n{extra}")


def dsn(sender: str, subject: str, notice: str, fields: str, rcpt: str = "", *,
        extra: str = "") -> str:
    """A multipart/report delivery status notification (RFC 3464)."""
    body = (f"MIME-Version: 1.0\nContent-Type: multipart/report; "
            f"report-type=delivery-status; boundary=\"=_b\"\n{extra}\n"
            f"--=_b\nContent-Type: text/plain; charset=us-ascii\n\n{notice}\n"
            f"--=_b\nContent-Type: message/delivery-status\n\n{fields}\n")
    if rcpt:
        returned = original(rcpt).split("\n\n")[0]
        body += f"--=_b\nContent-Type: text/rfc822-headers\n\n{returned}\n"
    return headers(sender, subject) + body + "--=_b--\n"


def plain(sender: str, subject: str, body: str, *, to: str = VERP, extra: str = "",
          charset: str = "utf-8") -> str:
    return (headers(sender, subject, to, extra)
            + f"MIME-Version: 1.0\nContent-Type: text/plain; charset={charset}\n\n{body}")


def with_original(sender: str, subject: str, notice: str, rcpt: str, extra: str = "") -> str:
    """A notice with the returned message attached (message/rfc822)."""
    return (headers(sender, subject, extra=extra)
            + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_m\"\n\n"
            f"--=_m\nContent-Type: text/plain; charset=utf-8\n\n{notice}\n"
            f"--=_m\nContent-Type: message/rfc822\n\n{original(rcpt)}\n--=_m--\n")


# ----------------------------------------------------------------------------
# Negatives
# ----------------------------------------------------------------------------

PERSON = "Claire Martin <claire.martin@example.fr>"
QUOTED_BOUNCE = (
    "> This is the mail system at host mx.example.org.\n"
    "> I'm sorry to have to inform you that your message could not\n"
    "> be delivered to one or more recipients.\n"
    ">\n> <paul@example.com>: host mx.example.com[192.0.2.7] said: 550 5.1.1\n"
    ">     <paul@example.com>: Recipient address rejected: User unknown\n"
)


def negatives() -> dict[str, tuple[str, dict]]:  # noqa: PLR0912, PLR0915 - one entry per message
    out: dict[str, tuple[str, dict]] = {}

    def add(name: str, text: str, kind: str = "not_bounce", **label) -> None:
        # "bounce" and "expect" as in tests/data/bounces/README.md, for the benches:
        # an auto-reply is an away "bounce", a delay a soft one; the rest none.
        expect = {"autoreply": [{"type": "away", "hard": False}],
                  "delay": [{"type": label.pop("type", "host"), "hard": False}]}.get(kind, [])
        out[name] = (text, {"kind": kind, "bounce": bool(expect), "expect": expect, **label})

    # --- human replies -----------------------------------------------------
    add("reply-thanks.eml", plain(PERSON, "Re: May newsletter",
        "Thank you for the programme! I will come on the 21st.\n\nClaire\n\n"
        "Le 14/05/2024 à 09:12, Example News a écrit :\n> Dear reader,\n"))
    add("reply-quotes-bounce.eml", plain(PERSON, "Re: Undelivered Mail Returned to Sender",
        "Hello, I got this when I wrote to Paul. Is his address still right?\n\n"
        + QUOTED_BOUNCE))
    add("reply-mail-delivery-subsystem.eml", plain(
        "Jonas Weber <jonas.weber@example.de>", "Re: Newsletter",
        "Hi, the last one came back from \"Mail Delivery Subsystem\" when I forwarded it\n"
        "to my colleague. Maybe his mailbox is full? Could you resend it to me?\n\nJonas\n"))
    add("reply-rfc-numbers.eml", plain("Ana Souza <ana@example.br>", "Re: Attachments",
        "The attachment is fine: RFC 2046, 5.1.5, but is not illegal either.\n"
        "Section 4.2.3 explains the 550 character limit of our form.\n"), prose_codes=True)
    add("reply-with-550.eml", plain("Mark Lee <mark@example.co.uk>", "Re: Event numbers",
        "We had 550 members at the meeting and 421 stayed for dinner.\n"
        "Code 5.7.1 of the room booking is on the invoice.\n"), prose_codes=True)
    add("reply-unsubscribe.eml", plain("Petra Novak <petra@example.cz>", "Re: May newsletter",
        "Please remove me from your list, I no longer work here.\n"))
    add("reply-french.eml", plain("Jean Dupont <jean.dupont@example.fr>", "RE: Lettre de mai",
        "Bonjour,\n\nMerci pour la lettre. L'adresse de ma collègue a changé, elle n'a pas "
        "reçu le message.\n\nCordialement,\nJean\n"))
    add("reply-german.eml", plain("Uwe Schmidt <uwe@example.de>", "AW: Mai-Newsletter",
        "Hallo,\n\nIhre Mail an meinen Kollegen war unzustellbar, sagt er. Bitte prüfen.\n\n"
        "Gruß\nUwe\n"))
    add("reply-question-delivery.eml", plain("Sam Patel <sam@example.in>",
        "Re: delivery failed?",
        "Hi, my colleague says your mail could not be delivered to him. Did you get an error?\n"))
    add("reply-html.eml", headers("Lucia Rossi <lucia@example.it>", "R: Newsletter di maggio")
        + "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
        "<html><body><p>Grazie!</p><blockquote>Dear reader,<br>Our May events are online."
        "</blockquote></body></html>\n")

    # --- auto-replies (RFC 3834): away ----------------------------------------
    away = [
        ("ooo-english.eml", "Out of Office: May newsletter", "Auto-Submitted: auto-replied\n",
         "I am out of the office until 3 June with limited access to email.\n"),
        ("ooo-exchange.eml", "Automatic reply: May newsletter",
         "X-Auto-Response-Suppress: All\nAuto-Submitted: auto-generated\n"
         "X-MS-Exchange-Inbox-Rules-Loop: hans@example.ch\n",
         "Thank you for your message. I am on leave until Monday.\n"),
        ("ooo-french.eml", "Réponse automatique : Lettre de mai", "Auto-Submitted: auto-replied\n",
         "Je suis absente jusqu'au 3 juin. Pour toute urgence, écrivez à accueil@example.fr.\n"),
        ("ooo-german.eml", "Abwesenheitsnotiz: Mai-Newsletter", "",
         "Ich bin bis zum 3. Juni nicht im Büro.\n"),
        ("ooo-spanish.eml", "Respuesta automática: Boletín de mayo", "",
         "Estoy de vacaciones hasta el 3 de junio.\n"),
        ("ooo-italian.eml", "Risposta automatica: Newsletter", "X-Autoreply: yes\n",
         "Sono in ferie fino al 3 giugno.\n"),
        ("vacation-gmail.eml", "Vacation", "Auto-Submitted: auto-replied (vacation)\n",
         "Hi! I'm travelling until June 3rd and reading mail rarely.\n"),
        ("vacation-precedence.eml", "Away from my desk", "Precedence: auto_reply\n",
         "I am away until Monday.\n"),
        ("autoresponder-noreply.eml", "Thank you for contacting us",
         "Auto-Submitted: auto-replied\n",
         "This is an automatic answer from no-reply: we read every message within 2 days.\n"),
        ("autoresponder-helpdesk.eml", "Re: May newsletter [Ticket #84512]",
         "X-Autoresponder: helpdesk\nAuto-Submitted: auto-replied\n",
         "We received your message. Your ticket number is 84512; we answer within 2 days.\n"),
        ("ooo-with-new-address.eml", "Out of office: May newsletter",
         "Auto-Submitted: auto-replied\n",
         "I have left the company. Please write to s.lopez@example.es instead.\n"),
    ]
    for number, (name, subject, extra, body) in enumerate(away):
        sender = ("Support <no-reply@support.example>" if "noreply" in name
                  else f"Person {number} <person{number}@example.net>")
        add(name, plain(sender, subject, body, extra=extra), kind="autoreply")

    # --- read receipts (RFC 8098) ----------------------------------------------
    for number, (ua, disposition) in enumerate([
            ("Microsoft Outlook 16.0", "manual-action/MDN-sent-manually; displayed"),
            ("Thunderbird 115", "manual-action/MDN-sent-manually; displayed"),
            ("Roundcube Webmail", "automatic-action/MDN-sent-automatically; displayed"),
            ("Apple Mail", "manual-action/MDN-sent-manually; deleted"),
            ("SOGo", "automatic-action/MDN-sent-automatically; displayed")]):
        rcpt = f"reader{number}@example.net"
        add(f"mdn-{number}.eml", headers(f"Reader {number} <{rcpt}>", "Read: May newsletter")
            + "MIME-Version: 1.0\nContent-Type: multipart/report; "
            "report-type=disposition-notification; boundary=\"=_r\"\n\n"
            "--=_r\nContent-Type: text/plain\n\nYour message was read on 14 May 2024 10:02.\n"
            "--=_r\nContent-Type: message/disposition-notification\n\n"
            f"Reporting-UA: {ua}\nOriginal-Recipient: rfc822;{rcpt}\n"
            f"Final-Recipient: rfc822;{rcpt}\n"
            "Original-Message-ID: <20240514071245.4711@news.example.org>\n"
            f"Disposition: {disposition}\n\n--=_r--\n")

    # --- success DSNs ---------------------------------------------------------
    for number, (action, status, diag) in enumerate([
            ("delivered", "2.0.0", "smtp; 250 2.0.0 Ok: queued as 4VfK2x0Bz9z9sWl"),
            ("relayed", "2.0.0", "smtp; 250 2.0.0 OK 1715670765 a640c23a62f3a-a5a1"),
            ("expanded", "2.0.0", "smtp; 250 2.1.5 Ok, alias expanded to 3 recipients"),
            ("delivered", "2.1.5", "smtp; 250 2.1.5 <anna@example.com> Recipient ok"),
            ("Delivered", "2.6.0", "smtp; 250 2.6.0 Queued mail for delivery"),
            ("", "2.0.0", "smtp; 250 Accepted")]):
        fields = ("Reporting-MTA: dns; mx.example.net\nArrival-Date: " + DATE + "\n\n"
                  f"Final-Recipient: rfc822; anna{number}@example.com\n"
                  + (f"Action: {action}\n" if action else "")
                  + f"Status: {status}\nRemote-MTA: dns; mx.example.com\n"
                  f"Diagnostic-Code: {diag}\n")
        add(f"dsn-success-{number}.eml", dsn(
            "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            "Successful Mail Delivery Report",
            "This is the mail system at host mx.example.net.\n\nYour message was "
            "successfully delivered to the destination(s) listed below.\n", fields,
            f"anna{number}@example.com"))

    # --- delay DSNs and warnings: never hard -----------------------------------
    delays = [
        ("dsn-delay-postfix.eml", dsn(
            "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            "Delayed Mail (still being retried)",
            "This is the mail system at host mx.example.net.\n\n####################\n"
            "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
            "####################\n\nYour message could not be delivered for more than 4 "
            "hour(s).\nIt will be retried until it is 5 day(s) old.\n",
            "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; tom@example.com\n"
            "Action: delayed\nStatus: 4.4.1\nDiagnostic-Code: X-Postfix; connect to "
            "mx.example.com[192.0.2.9]:25: Connection timed out\n"
            "Will-Retry-Until: Sun, 19 May 2024 09:12:45 +0200\n", "tom@example.com")),
        ("dsn-delay-greylist.eml", dsn(
            "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            "Delayed Mail (still being retried)", "Your message is delayed.\n",
            "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; ida@example.com\n"
            "Action: delayed\nStatus: 4.7.1\nDiagnostic-Code: smtp; 450 4.7.1 <ida@example.com>: "
            "Recipient address rejected: Greylisted, see https://postgrey.example/\n",
            "ida@example.com")),
        ("dsn-delay-quota.eml", dsn(
            "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            "Delayed Mail (still being retried)", "Your message is delayed.\n",
            "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; eva@example.com\n"
            "Action: delayed\nStatus: 4.2.2\nDiagnostic-Code: smtp; 452 4.2.2 Mailbox full\n",
            "eva@example.com")),
        ("dsn-delay-user-unknown-tempfail.eml", dsn(
            "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            "Delayed Mail (still being retried)", "Your message is delayed.\n",
            "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; leo@example.com\n"
            "Action: delayed\nStatus: 4.1.1\nDiagnostic-Code: smtp; 450 4.1.1 <leo@example.com>: "
            "Recipient address rejected: unverified address: lookup temporarily failed\n",
            "leo@example.com")),
        ("exim-delay-warning.eml", plain(
            "Mail Delivery System <Mailer-Daemon@mail.example.net>",
            "Warning: message 1s6nQv-0004Zb-2K delayed 24 hours",
            "This message was created automatically by mail delivery software.\n"
            "A message that you sent has not yet been delivered to one or more of its\n"
            "recipients after more than 24 hours on the queue on mail.example.net.\n\n"
            "The message identifier is:     1s6nQv-0004Zb-2K\n\n"
            "The address to which the message has not yet been delivered is:\n\n"
            "  olga@example.com\n    host mx.example.com [192.0.2.4]\n"
            "    Delay reason: SMTP error from remote mail server after RCPT TO:"
            "<olga@example.com>:\n    451 4.3.0 Temporary lookup failure\n\n"
            "No action is required on your part. Delivery attempts will continue for some "
            "time, and this warning may be repeated at intervals if the message remains\n"
            "undelivered. Eventually the mail delivery software will give up, and when that "
            "happens, the message will be returned to you.\n",
            extra="X-Failed-Recipients: olga@example.com\nAuto-Submitted: auto-replied\n")),
        ("sendmail-delay-warning.eml", plain(
            "Mail Delivery Subsystem <MAILER-DAEMON@relay.example.net>",
            "Warning: could not send message for past 4 hours",
            "    **********************************************\n"
            "    **      THIS IS A WARNING MESSAGE ONLY      **\n"
            "    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **\n"
            "    **********************************************\n\n"
            "The original message was received at Tue, 14 May 2024 09:12:45 +0200\n"
            "from news.example.org [198.51.100.10]\n\n"
            "   ----- Transcript of session follows -----\n"
            "<max@example.com>... Deferred: Connection timed out with mx.example.com.\n"
            "Warning: message still undelivered after 4 hours\n"
            "Will keep trying until message is 5 days old\n")),
    ]
    delay_types = {"dsn-delay-quota.eml": "quota"}  # the others: timeouts, temporary lookups
    for name, text in delays:
        add(name, text, kind="delay", type=delay_types.get(name, "host"))

    # --- digests --------------------------------------------------------------
    digest_post = ("From: Bob <bob@example.com>\nSubject: Bounces from our server\n"
                   "Date: " + DATE + "\n\nOur server answers 550 5.1.1 for unknown users and "
                   "the Mail Delivery Subsystem sends the bounce. Undeliverable mail is "
                   "returned to sender.\n")
    for number in range(3):
        add(f"digest-mime-{number}.eml", headers(
            "civicrm-users-request@lists.example.org",
            f"civicrm-users Digest, Vol 42, Issue {number + 3}",
            extra="List-Id: CiviCRM users <civicrm-users.lists.example.org>\n"
                  "List-Post: <mailto:civicrm-users@lists.example.org>\nPrecedence: list\n")
            + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_d\"\n\n"
            "--=_d\nContent-Type: text/plain\n\nToday's Topics:\n\n   1. Bounces (Bob)\n"
            "   2. Re: Bounces (Alice)\n\n"
            "--=_d\nContent-Type: multipart/digest; boundary=\"=_e\"\n\n"
            f"--=_e\n\n{digest_post}\n--=_e\n\n"
            "From: Alice <alice@example.net>\nSubject: Re: Bounces\n\n"
            "> Undeliverable mail is returned to sender.\nYes, delivery failed for me too.\n"
            "\n--=_e--\n\n--=_d--\n")
    for number in range(3):
        add(f"digest-text-{number}.eml", plain(
            "mailman-digest@lists.example.org", f"Mailman-Users Digest, Vol 188, Issue {number}",
            "Send Mailman-Users mailing list submissions to\n\tmailman-users@lists.example.org\n\n"
            "Today's Topics:\n\n   1. Delivery failure notices (Kim)\n\n"
            "----------------------------------------------------------------------\n\n"
            "Message: 1\nFrom: Kim <kim@example.org>\nSubject: Delivery failure notices\n\n"
            "Since the upgrade every delivery failure notice says 'delivery has failed' and\n"
            "'550 5.7.1 relaying denied'. Which RFC 5321 section covers this?\n",
            extra="List-Id: Mailman users <mailman-users.lists.example.org>\n"
                  "Precedence: list\n"), prose_codes=True)

    # --- forwards -------------------------------------------------------------
    forwarded_dsn = dsn("Mail Delivery System <MAILER-DAEMON@mx.example.org>",
                        "Undelivered Mail Returned to Sender",
                        "I'm sorry to have to inform you that your message could not be "
                        "delivered.\n",
                        "Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; "
                        "paul@example.com\nAction: failed\nStatus: 5.1.1\n"
                        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n", "paul@example.com")
    for number, subject in enumerate(["Fwd: Undelivered Mail Returned to Sender",
                                      "Fw: Undeliverable: May newsletter",
                                      "TR: Mail delivery failed: returning message to sender",
                                      "WG: Unzustellbar: Newsletter"]):
        add(f"forward-attached-{number}.eml", headers(
            f"Helper {number} <helper{number}@example.org>", subject)
            + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_f\"\n\n"
            "--=_f\nContent-Type: text/plain\n\nFYI, this came back. Could you check the "
            "address?\n\n--=_f\nContent-Type: message/rfc822\n\n" + forwarded_dsn
            + "\n--=_f--\n")
    for number in range(4):
        add(f"forward-inline-{number}.eml", plain(
            f"Forwarder {number} <fwd{number}@example.com>",
            ["Fwd: Delivery Status Notification (Failure)", "Fwd: Returned mail: see transcript",
             "Fwd: May newsletter", "Fwd: failure notice"][number],
            "See below.\n\n---------- Forwarded message ---------\n"
            "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
            "Date: Tue, 14 May 2024 at 09:20\nSubject: Delivery Status Notification (Failure)\n"
            "To: <fwd@example.com>\n\n"
            "Address not found\n\nYour message wasn't delivered to nobody@example.com because "
            "the address couldn't be found, or is unable to receive mail.\n\n"
            "The response from the remote server was:\n550 5.1.1 The email account that you "
            "tried to reach does not exist.\n"))

    # --- list mail ------------------------------------------------------------
    list_extra = ("List-Id: Postfix users <postfix-users.postfix.example>\n"
                  "List-Unsubscribe: <mailto:postfix-users-leave@postfix.example>\n"
                  "List-Post: <mailto:postfix-users@postfix.example>\nPrecedence: list\n")
    topics = [
        ("Re: 550 5.1.1 User unknown but the user exists",
         "Check local_recipient_maps. The bounce said:\n  550 5.1.1 <a@example.com>: "
         "Recipient address rejected: User unknown in local recipient table\n"),
        ("Undeliverable mail after upgrade to 3.9",
         "After the upgrade some mail could not be delivered; mailq shows 'deferred'.\n"
         "Our logs: status=bounced (host mx said: 554 5.7.1 Relay access denied)\n"),
        ("Delivery failed to Outlook.com",
         "Microsoft answers 550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent.\n"
         "Anyone knows how to get delisted? Delivery has failed for a week.\n"),
        ("Mail Delivery Subsystem loops",
         "Our Mail Delivery Subsystem sends bounces to itself; returned mail piles up.\n"),
        ("Quota warnings",
         "How do you configure 'mailbox full' (552 5.2.2) versus 452 4.2.2 in Dovecot?\n"),
        ("RFC 3463 question",
         "Is 5.1.10 (RFC 7505 null MX) permanent? RFC 3463 section 3.2 says X.1.x is about "
         "addressing.\n"),
    ]
    for number, (subject, body) in enumerate(topics):
        add(f"list-{number}.eml", plain(f"Member {number} <member{number}@example.org>",
                                        subject, body, to="postfix-users@postfix.example",
                                        extra=list_extra), prose_codes=True)
    add("list-announce.eml", plain("announce@lists.example.org", "[Announce] Release 5.1.1",
        "Version 5.1.1 is out. It fixes the delivery failure when a message has 550 lines.\n",
        extra="List-Id: <announce.lists.example.org>\nPrecedence: bulk\n"), prose_codes=True)
    add("list-github.eml", plain("Octo Bot <notifications@github.example>",
        "Re: [civicrm/core] Bounce processing fails on 5.7.1 (Issue #31337)",
        "The bounce was not delivered because of 550 5.7.1. See RFC 5321, 4.2.5.\n\n"
        "Reply to this email directly or view it on GitHub.\n",
        extra="List-Id: civicrm/core <core.civicrm.github.example>\n"
              "List-Unsubscribe: <mailto:unsub@github.example>\n"), prose_codes=True)

    # --- challenge-response ---------------------------------------------------
    challenges = [
        ("challenge-tmda.eml", "Dan Ortiz <dan-confirm+1715670765.4711.f0e1d2@example.com>",
         "Please confirm your message",
         "Auto-Submitted: auto-replied (confirm)\n",
         "I apologize for this automatic reply to your email.\n\nTo control spam, I now "
         "allow incoming messages only from senders I have approved beforehand.\n\n"
         "If you would like to be added to my list of approved senders, please reply to "
         "this message. Your original message will be delivered once you confirm.\n"),
        ("challenge-spamarrest.eml", "Kate Moss <kate@example.net>",
         "[Spam Arrest] Please verify your email: May newsletter", "",
         "This is Spam Arrest. Kate uses Spam Arrest to protect her inbox. To have your "
         "message delivered, please click the link below and prove that you are a person:\n"
         "https://spamarrest.example/verify?code=83af\n"),
        ("challenge-boxbe.eml", "Ben Cho via Boxbe <notification@boxbe.example>",
         "Request to join my Guest List", "",
         "Hello, I use Boxbe to manage my inbox. You are not on my Guest List yet. "
         "Please join my Guest List so your messages reach me.\n"),
        ("challenge-preapproved.eml", "Ellen Ray <ellen@example.org>",
         "Re: May newsletter", "Auto-Submitted: auto-replied\n",
         "Sender not pre-approved - Venue not defined. Your message is waiting; "
         "it will be delivered when you confirm your address.\n"),
        ("challenge-requires-confirmation.eml",
         "Mail Protection <protect@mailguard.example.com>",
         "Your message to igor@example.com requires confirmation", "",
         "Your email message to igor@example.com requires your confirmation before it is "
         "delivered. Click here to confirm that you are not a robot: "
         "https://mailguard.example.com/c/9a8b\n"),
        ("challenge-isp.eml", "spamBlocker <spamblocker-challenge@isp.example>",
         "Re: May newsletter (action required)", "",
         "The person you emailed uses spamBlocker. Their message filter holds mail from "
         "unknown senders. Your email is held until you verify that you are a real person "
         "(one time only): https://isp.example/sb/verify?x=12\n"),
    ]
    for name, sender, subject, extra, body in challenges:
        add(name, plain(sender, subject, body, extra=extra), kind="challenge")

    # --- spam -----------------------------------------------------------------
    spam = [
        ("spam-lottery.eml", "Lottery Board <winner@lotto.example>", "You have WON 1,500,000 EUR",
         "Congratulations! Your email won 1,500,000 EUR in the 5.1.1 draw. Reply with your "
         "bank details.\n"),
        ("spam-pharma.eml", "Pharmacy <sales@pills.example>", "Cheap meds 550mg",
         "Best prices, 550 mg tablets, no prescription. Order now!\n"),
        ("spam-phishing-quota.eml", "IT Support <it-support@phish.example>",
         "Your mailbox is almost full",
         "Your mailbox has reached 98% of its quota. Click here to upgrade within 24 hours "
         "or your email will be suspended: http://phish.example/upgrade\n"),
        ("spam-seo.eml", "SEO Expert <seo@rank.example>", "Page 1 of Google in 4 weeks",
         "We can put example.org on page 1. Reply 'YES' for a free audit.\n"),
        ("spam-crypto.eml", "Crypto Club <club@coin.example>", "Double your bitcoin",
         "Send 0.1 BTC and receive 0.2 BTC back within 421 minutes.\n"),
        ("spam-invoice.eml", "Accounts <billing@invoice.example>", "Invoice 5504 overdue",
         "Please find attached invoice 5504. Payment failed twice; pay now to avoid fees.\n"),
    ]
    for name, sender, subject, body in spam:
        add(name, plain(sender, subject, body), prose_codes=True)

    # --- newsletters ----------------------------------------------------------
    letters = [
        ("newsletter-rfc.eml", "Tech Weekly <weekly@tech.example>", "Tech Weekly #250",
         "This week: MIME in depth. RFC 2046, 5.1.5, but is not illegal: nested multiparts "
         "explained. Also: why 550 5.1.1 is not always final, and the 4.7.0 release.\n"),
        ("newsletter-html.eml", "Garden Club <news@garden.example>", "Spring planting",
         "<html><body><h1>Spring</h1><p>Plant 550 bulbs before 5.4.2024. Our delivery "
         "failed last year because of frost.</p></body></html>\n"),
        ("newsletter-undeliverable-word.eml", "Postal Museum <news@museum.example>",
         "Exhibition: the history of undeliverable mail",
         "Our new exhibition shows returned mail and dead letter offices since 1850.\n"),
        ("newsletter-stats.eml", "Stats Digest <stats@data.example>", "Numbers of the week",
         "Reply codes seen this week: 250 (98%), 421 (1.2%), 550 (0.8%). Enhanced codes "
         "5.1.1 and 4.2.2 lead.\n"),
        ("newsletter-release.eml", "Release Team <release@soft.example>", "Version 4.4.7",
         "Version 4.4.7 fixes a bug where a message could not be delivered twice.\n"),
    ]
    for name, sender, subject, body in letters:
        extra = ("List-Unsubscribe: <https://list.example/u/1>\n"
                 "List-Unsubscribe-Post: List-Unsubscribe=One-Click\nPrecedence: bulk\n")
        if body.startswith("<html>"):
            text = (headers(sender, subject, extra=extra)
                    + "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n" + body)
        else:
            text = plain(sender, subject, body, extra=extra)
        add(name, text, prose_codes=True)
    # --- other everyday mail ----------------------------------------------------
    add("parcel-not-delivered.eml", plain(
        "Parcel Service <tracking@parcel.example>", "Delivery failed: parcel 00340434",
        "We could not deliver your parcel 00340434 today: nobody was at home. "
        "It is held at your local post office for 7 days.\n"))
    add("calendar-invite.eml", headers("Olga Berg <olga@example.se>", "Invitation: Board meeting")
        + "MIME-Version: 1.0\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\n\n"
        "BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nSUMMARY:Board meeting\n"
        "DTSTART:20240521T090000Z\nEND:VEVENT\nEND:VCALENDAR\n")
    add("password-reset.eml", plain("Accounts <no-reply@accounts.example>",
        "Reset your password",
        "Someone asked to reset the password of news@example.org. The link expires in "
        "24 hours.\n"))
    add("outlook-recall.eml", plain("Pierre Leroy <pierre@example.fr>", "Recall: May newsletter",
        "Pierre Leroy would like to recall the message, \"May newsletter\".\n",
        extra="X-MS-Exchange-Organization-Recall: True\n"))
    add("exchange-delivered-receipt.eml", dsn(
        "Microsoft Outlook <postmaster@contoso.example>", "Delivered: May newsletter",
        "Your message has been delivered to the following recipients:\n\nsara@contoso.example "
        "(sara@contoso.example)\n",
        "Reporting-MTA: dns;AM6P192MB0012.EURP192.PROD.OUTLOOK.example\n\n"
        "Final-recipient: RFC822; sara@contoso.example\nAction: delivered\nStatus: 2.0.0\n"
        "X-Display-Name: Sara\n", "sara@contoso.example"))
    add("meeting-minutes.eml", plain("Secretary <secretary@example.org>",
        "Minutes of the 14 May meeting",
        "1. The bounce rate of the May mailing was 5.1 % (550 of 10,780 addresses).\n"
        "2. Returned mail is processed weekly. Undeliverable addresses are put on hold.\n"),
        prose_codes=True)
    add("survey.eml", plain("Survey Team <survey@poll.example>", "Tell us what you think",
        "Your feedback on delivery failures of our service helps: 5 questions, 2 minutes.\n",
        extra="List-Unsubscribe: <https://poll.example/u>\n"))
    add("parcel-noreply.eml", plain(
        "Parcel Service <noreply@parcel.example>", "Delivery failed: parcel 00340435",
        "Delivery failed. We could not deliver your parcel 00340435: the address could not "
        "be found. Please check it in your account.\n"))
    add("forward-bracket.eml", plain(
        "Old Client <oldclient@example.net>", "[Fwd: Undelivered Mail Returned to Sender]",
        "-------- Original Message --------\nSubject: Undelivered Mail Returned to Sender\n"
        "From: MAILER-DAEMON@mx.example.org\n\nThis is the mail system at host mx.example.org.\n"
        "Your message could not be delivered to one or more recipients.\n\n"
        "<paul@example.com>: host mx.example.com[192.0.2.7] said: 550 5.1.1 User unknown\n"))
    add("social-notification.eml", plain("Social <notify@social.example>",
        "Lena mentioned you in a comment",
        "Lena: \"your mail could not be delivered to my old address, use the new one\"\n"))
    return out


# ----------------------------------------------------------------------------
# Bounces written after the MTAs' and providers' own formats
# ----------------------------------------------------------------------------

DAEMON = "Mail Delivery System <MAILER-DAEMON@mx.example.net>"


def postfix(rcpt: str, status: str, diag: str, notice_reason: str = "",
            original_to: str = "") -> str:
    """Postfix's bounce(8) DSN (multipart/report, returned headers)."""
    notice = ("This is the mail system at host mx.example.net.\n\n"
              "I'm sorry to have to inform you that your message could not\n"
              "be delivered to one or more recipients. It's attached below.\n\n"
              "For further assistance, please send mail to postmaster.\n\n"
              "If you do so, please include this problem report. You can\n"
              "delete your own text from the attached returned message.\n\n"
              "                   The mail system\n\n"
              f"<{rcpt}>: {notice_reason or diag}\n")
    fields = ("Reporting-MTA: dns; mx.example.net\nX-Postfix-Queue-ID: 4VfK2x0Bz9z9sWl\n"
              f"Arrival-Date: {DATE}\n\nFinal-Recipient: rfc822; {rcpt}\n"
              f"Original-Recipient: rfc822;{rcpt}\nAction: failed\nStatus: {status}\n"
              f"Remote-MTA: dns; mx.example.com\nDiagnostic-Code: smtp; {diag}\n")
    return dsn(DAEMON, "Undelivered Mail Returned to Sender", notice, fields,
               original_to or rcpt)


def exim(rcpt: str, reason: str, failed_header: bool = True) -> str:
    """Exim's text bounce (with X-Failed-Recipients)."""
    body = ("This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            f"  {rcpt}\n    {reason}\n\n"
            "------ This is a copy of the message, including all the headers. ------\n\n"
            + original(rcpt))
    extra = (f"X-Failed-Recipients: {rcpt}\n" if failed_header else "") \
        + "Auto-Submitted: auto-replied\n"
    return plain("Mail Delivery System <Mailer-Daemon@mail.example.net>",
                 "Mail delivery failed: returning message to sender", body, extra=extra)


def written() -> dict[str, tuple[str, dict]]:
    out: dict[str, tuple[str, dict]] = {}

    def add(name: str, text: str, email: str, type_: str,  # noqa: PLR0917 - a label's fields
            hard: bool, status: str = "", issue_kind: int = 0) -> None:
        out[name] = (text, {"kind": "bounce", "email": email, "type": type_, "hard": hard,
                            "status": status, "issue_kind": issue_kind, "bounce": True,
                            "expect": [{"recipient": email, "type": type_, "hard": hard,
                                        "status": status}]})

    # --- kind 1: the recipient comes from the report, not the returned original --
    text = postfix("member7@example.com", "5.1.1",
                   "550 5.1.1 <member7@example.com>: Recipient address rejected: User unknown "
                   "in virtual mailbox table", original_to="friends@lists.example.org")
    add("k1-postfix-list-original.eml", text, "member7@example.com", "invalid", True, "5.1.1", 1)
    text = with_original(
        "Microsoft Outlook <postmaster@contoso.example>", "Undeliverable: May newsletter",
        "Your message to rita@contoso.example couldn't be delivered.\n\n"
        "rita wasn't found at contoso.example.\n\n"
        "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not "
        "found by SMTP address lookup'\n", "Team <team@contoso.example>, rita@contoso.example")
    add("k1-o365-several-original.eml", text, "rita@contoso.example", "invalid", True, "5.1.10",
        1)
    text = plain("MAILER-DAEMON@mail.example.net", "failure notice",
                 "Hi. This is the qmail-send program at mail.example.net.\n"
                 "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
                 "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
                 "<old.name@example.com>:\nThis address no longer accepts mail. Please write "
                 "to new.name@example.com instead.\n\n"
                 "--- Below this line is a copy of the message.\n\n" + original(
                     "old.name@example.com"))
    add("k1-qmail-moved-instead.eml", text, "old.name@example.com", "inactive", True, "", 1)
    exchange2003 = (
        "Your message did not reach some or all of the intended recipients.\n\n"
        "      Subject:\tMay newsletter\n      Sent:\t5/14/2024 9:12 AM\n\n"
        "The following recipient(s) cannot be reached:\n\n"
        "      {name} on 5/14/2024 9:13 AM\n"
        "            The e-mail account does not exist at the organization this message was "
        "sent to.  Check the e-mail address, or contact the recipient directly to find out "
        "the correct address.\n            <ex2003.example.com #5.1.1>\n")
    add("k1-exchange2003-display-name.eml", with_original(
        "System Administrator <postmaster@ex2003.example.com>", "Undeliverable: May newsletter",
        exchange2003.format(name="John Doe"), '"John Doe" <john.doe@ex2003.example.com>'),
        "john.doe@ex2003.example.com", "invalid", True, "5.1.1", 1)
    add("k1-exchange2003-one-of-two.eml", with_original(
        "System Administrator <postmaster@ex2003.example.com>", "Undeliverable: May newsletter",
        exchange2003.format(name="Mary Major"),
        '"John Doe" <john.doe@ex2003.example.com>, "Mary Major" <mary@ex2003.example.com>'),
        "mary@ex2003.example.com", "invalid", True, "5.1.1", 1)

    # --- kind 2: codes only from reply lines -----------------------------------
    add("k2-prose-rfc-then-reply.eml", exim(
        "nina@example.com",
        "host mx.example.com [192.0.2.5]\n    SMTP error from remote mail server after RCPT "
        "TO:<nina@example.com>:\n    552 5.2.2 Mailbox full (see RFC 5321, 4.5.3.1)"),
        "nina@example.com", "quota", False, "5.2.2", 2)

    # --- kind 3: the server's words about the recipient decide -----------------
    add("k3-postfix-unknown-user-after-data.eml", postfix(
        "hugo@example.com", "5.0.0", "550 unknown user (in reply to end of DATA command)",
        "host mx.example.com[192.0.2.3] said: 550 unknown user (in reply to end of DATA "
        "command)"), "hugo@example.com", "invalid", True, "5.0.0", 3)
    add("k3-sendmail-571-no-such-user.eml", postfix(
        "ivy@example.com", "5.7.1", "550 5.7.1 No such user"), "ivy@example.com", "invalid",
        True, "5.7.1", 3)
    add("k3-rcpt-does-not-exist.eml", exim(
        "jack@example.com", "host mx.example.com [192.0.2.6]\n    SMTP error from remote mail "
        "server after end of data:\n    554 Rcpt <jack@example.com> does not exist"),
        "jack@example.com", "invalid", True, "", 3)
    add("k3-no-mailbox-found.eml", postfix(
        "kim@example.com", "5.0.0", "550 No mailbox found"), "kim@example.com", "invalid", True,
        "5.0.0", 3)
    add("k3-o365-dbeb-access-denied.eml", with_original(
        "Microsoft Outlook <postmaster@fabrikam.example>", "Undeliverable: May newsletter",
        "Delivery has failed to these recipients or groups:\n\nlena@fabrikam.example\n"
        "The email address you entered couldn't be found.\n\nDiagnostic information for "
        "administrators:\n\nGenerating server: AM6P192MB0012.EURP192.PROD.OUTLOOK.example\n\n"
        "lena@fabrikam.example\nRemote Server returned '550 5.4.1 Recipient address rejected: "
        "Access denied. AS(201806281) [AM6PEPF00003A6C.eurprd04.prod.outlook.example]'\n",
        "lena@fabrikam.example"), "lena@fabrikam.example", "invalid", True, "5.4.1", 3)
    add("k3-not-active-address.eml", exim(
        "max@example.com", "host mx.example.com [192.0.2.8]\n    SMTP error from remote mail "
        "server after RCPT TO:<max@example.com>:\n    550 5.7.1 max@example.com is not an "
        "active address at this host"), "max@example.com", "invalid", True, "5.7.1", 3)

    # Sendmail's DSN writes Status 5.1.1 for any 550 at RCPT TO; the remote's own
    # code in the Diagnostic-Code says it is a policy refusal.
    add("k3-sendmail-status-vs-remote-code.eml", dsn(
        "Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>",
        "Returned mail: see transcript for details",
        "The original message was received at Tue, 14 May 2024 09:12:47 +0200\n"
        "from news.example.org [198.51.100.10]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<ann@example.com>\n    (reason: 550 5.7.1 Access to this mailbox is restricted)\n",
        "Reporting-MTA: dns; relay.example.com\nReceived-From-MTA: DNS; news.example.org\n"
        f"Arrival-Date: {DATE}\n\nFinal-Recipient: RFC822; ann@example.com\n"
        "Action: failed\nStatus: 5.1.1\nRemote-MTA: DNS; mx.example.com\n"
        "Diagnostic-Code: SMTP; 550 5.7.1 Access to this mailbox is restricted\n"
        f"Last-Attempt-Date: {DATE}\n", "ann@example.com"),
        "ann@example.com", "blocked", False, "5.7.1", 3)

    # --- kind 6: formats ---------------------------------------------------------
    add("k6-sendmail-v5.eml", plain(
        "Mail Delivery Subsystem <MAILER-DAEMON@relay.example.edu>",
        "Returned mail: User unknown",
        "   ----- Transcript of session follows -----\n"
        "550 <oscar@example.edu>... User unknown\n\n"
        "   ----- Unsent message follows -----\n" + original("oscar@example.edu")),
        "oscar@example.edu", "invalid", True, "", 6)
    add("k6-sendmail-v8-transcript.eml", plain(
        "Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>",
        "Returned mail: see transcript for details",
        "The original message was received at Tue, 14 May 2024 09:12:47 +0200\n"
        "from news.example.org [198.51.100.10]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<pia@example.com>\n    (reason: 550 5.1.1 <pia@example.com>... User unknown)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.example.com.:\n>>> RCPT To:<pia@example.com>\n"
        "<<< 550 5.1.1 <pia@example.com>... User unknown\n"
        "550 5.1.1 <pia@example.com>... User unknown\n\n"
        "   ----- Original message follows -----\n" + original("pia@example.com")),
        "pia@example.com", "invalid", True, "5.1.1", 6)
    sendmail_dsn = (
        "The original message was received at Tue, 14 May 2024 09:12:47 +0200\n"
        "from news.example.org [198.51.100.10]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<{rcpt}>\n    (reason: {reason})\n\n"
        "   ----- Transcript of session follows -----\n... while talking to mx.example.com.:\n"
        "{transcript}\n")
    sendmail_fields = ("Reporting-MTA: dns; relay.example.com\nArrival-Date: " + DATE + "\n\n"
                       "Final-Recipient: RFC822; {rcpt}\nAction: failed\nStatus: {status}\n"
                       "Remote-MTA: DNS; mx.example.com\nDiagnostic-Code: SMTP; {reason}\n")
    greeting = "554-mx.example.com ESMTP not available for you"
    add("k6-sendmail-multiline-greeting.eml", dsn(
        "Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>",
        "Returned mail: see transcript for details",
        sendmail_dsn.format(rcpt="bea@example.com", reason=greeting, transcript=(
            f"<<< {greeting}\n<<< 554-Your IP address is block listed.\n"
            "<<< 554 See https://postmaster.example.com/\n554 5.0.0 Service unavailable")),
        sendmail_fields.format(rcpt="bea@example.com", status="5.0.0", reason=greeting),
        "bea@example.com"), "bea@example.com", "blocked", False, "5.0.0", 6)
    add("k6-sendmail-221-bye.eml", dsn(
        "Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>",
        "Returned mail: see transcript for details",
        sendmail_dsn.format(rcpt="cal@example.com", reason="221 Bye", transcript=(
            ">>> RCPT To:<cal@example.com>\n<<< 421 4.7.1 Messages from 198.51.100.10 "
            "deferred due to poor reputation\n<cal@example.com>... Deferred\n"
            "Message could not be delivered for 5 days\nMessage will be deleted from queue")),
        sendmail_fields.format(rcpt="cal@example.com", status="4.4.7", reason="221 Bye"),
        "cal@example.com"), "cal@example.com", "blocked", False, "4.7.1", 6)
    add("k6-qmail-remote.eml", plain(
        "MAILER-DAEMON@mail.example.net", "failure notice",
        "Hi. This is the qmail-send program at mail.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<quinn@example.com>:\n192.0.2.11 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <quinn@example.com>: Recipient address rejected: "
        "User unknown\nGiving up on 192.0.2.11.\n\n"
        "--- Below this line is a copy of the message.\n\n" + original("quinn@example.com")),
        "quinn@example.com", "invalid", True, "5.1.1", 6)
    add("k6-domino-english.eml", plain(
        "Postmaster <Postmaster@notes.example.com>", "DELIVERY FAILURE: User rosa not listed "
        "in Domino Directory",
        "Your message\n\n  Subject: May newsletter\n\nwas not delivered to:\n\n"
        "  rosa@notes.example.com\n\nbecause:\n\n  User rosa (rosa@notes.example.com) not "
        "listed in Domino Directory\n"), "rosa@notes.example.com", "invalid", True, "", 6)
    japanese = ("あなたのメッセージ\n\n  件名:  May newsletter\n\n"
                "は次の宛先に配信されませんでした:\n\n  taro@notes.example.jp\n\n理由:\n\n"
                "  taro@notes.example.jp は Domino ディレクトリにありません\n")
    add("k6-domino-iso2022jp.eml", headers(
        "Postmaster <Postmaster@notes.example.jp>",
        Header("配信不能: May newsletter", "iso-2022-jp").encode())
        + "MIME-Version: 1.0\nContent-Type: text/plain; charset=ISO-2022-JP\n"
        "Content-Transfer-Encoding: 7bit\n\n" + japanese.encode("iso-2022-jp").decode("ascii"),
        "taro@notes.example.jp", "invalid", True, "", 6)
    add("k6-groupwise.eml", plain(
        "Mail Delivery System <postmaster@gw.example.org>",
        "Message status - undeliverable",
        "The message that you sent was undeliverable to the following:\n"
        "\tuma@gw.example.org (user not found)\n\n"
        "Possible causes include: The recipient's mailbox may be disabled or closed.\n"),
        "uma@gw.example.org", "invalid", True, "", 6)
    add("k6-verizon.eml", plain(
        "Postmaster <postmaster@verizon.example>", "Undeliverable Message",
        "This is an automatically generated Delivery Status Notification.\n\n"
        "Delivery to the following recipients failed permanently:\n\n"
        "     victor@verizon.example\n\n"
        "Technical details of permanent failure:\n"
        "550 5.1.1 <victor@verizon.example>: Recipient address rejected: "
        "User unknown in local recipient table\n"), "victor@verizon.example", "invalid", True,
        "5.1.1", 6)
    add("k6-webmail-portal.eml", plain(
        "Mail Delivery Subsystem <mailer-daemon@portal.example>",
        "Delivery Status Notification (Failure)",
        "Your message to wendy@portal.example could not be delivered.\n\n"
        "The recipient's mailbox is unavailable: the account does not exist.\n\n"
        "Please check the address and try again. This is an automated message from "
        "Portal Webmail.\n"), "wendy@portal.example", "invalid", True, "", 6)
    add("k6-gmail.eml", dsn(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        "** Address not found **\n\nYour message wasn't delivered to xena@example.com because "
        "the address couldn't be found, or is unable to receive mail.\n\n"
        "The response from the remote server was:\n550 5.1.1 The email account that you tried "
        "to reach does not exist. Please try double-checking the recipient's email address "
        "for typos or unnecessary spaces.\n",
        "Reporting-MTA: dns; googlemail.com\nArrival-Date: " + DATE + "\n\n"
        "Final-Recipient: rfc822; xena@example.com\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does not "
        "exist.\n", "xena@example.com"), "xena@example.com", "invalid", True, "5.1.1", 6)
    add("k6-yahoo.eml", plain(
        "MAILER-DAEMON@yahoo.example", "Failure Notice",
        "Sorry, we were unable to deliver your message to the following address.\n\n"
        "<yuri@yahoo.example>:\nRemote host said: 554 delivery error: dd This user doesn't "
        "have a yahoo.example account (yuri@yahoo.example) [0] - mta1.mail.yahoo.example\n\n"
        "--- Below this line is a copy of the message.\n\n" + original("yuri@yahoo.example")),
        "yuri@yahoo.example", "invalid", True, "", 6)

    # --- kind 7: types -----------------------------------------------------------
    add("k7-ip-frequency-limited.eml", postfix(
        "zoe@qq.example", "5.0.0", "550 Ip frequency limited. http://service.mail.qq.example/"
        "detail/0/114"), "zoe@qq.example", "host", False, "5.0.0", 7)
    add("k7-too-many-connections.eml", postfix(
        "al@example.com", "5.0.0", "554 5.7.1 Too many connections from your IP"),
        "al@example.com", "host", False, "5.7.1", 7)
    add("k7-unrouteable.eml", exim("bo@nonexistent.example", "Unrouteable address"),
        "bo@nonexistent.example", "dns", True, "", 7)
    add("k7-host-not-found.eml", plain(
        "Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>",
        "Returned mail: see transcript for details",
        "The original message was received at Tue, 14 May 2024 09:12:47 +0200\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<cy@gone.example>\n    (reason: 550 Host unknown)\n\n"
        "   ----- Transcript of session follows -----\n"
        "550 5.1.2 <cy@gone.example>... Host unknown (Name server: gone.example: host not "
        "found)\n"), "cy@gone.example", "dns", True, "5.1.2", 7)
    add("k7-domain-not-reachable.eml", with_original(
        "Mail Delivery Subsystem <mailer-daemon@portal.example>", "Undelivered Mail",
        "Delivery to the following recipient failed permanently:\n\n"
        "     di@unreach.example\n\nTechnical details of permanent failure:\n"
        "The recipient domain is not reachable.\n", "di@unreach.example"),
        "di@unreach.example", "dns", True, "", 7)
    add("k7-malformed-dns-reply.eml", postfix(
        "ed@brokendns.example", "5.4.4",
        "Name service error for name=brokendns.example type=MX: Malformed or unexpected "
        "name server reply"), "ed@brokendns.example", "dns", True, "5.4.4", 7)
    add("k7-not-enough-storage.eml", with_original(
        "Microsoft Outlook <postmaster@contoso.example>", "Undeliverable: May newsletter",
        "Delivery has failed to these recipients or groups:\n\nfay@contoso.example\n"
        "The recipient's mailbox is full and can't accept messages now.\n\n"
        "Remote Server returned '552 5.2.2 STOREDRV.Deliver; Not enough storage space'\n",
        "fay@contoso.example"), "fay@contoso.example", "quota", False, "5.2.2", 7)
    add("k7-zu-viele-mails.eml", exim(
        "gus@gmx.example", "host mx.gmx.example [192.0.2.12]\n    SMTP error from remote mail "
        "server after RCPT TO:<gus@gmx.example>:\n    452 4.2.2 Zu viele Mails auf dem Server "
        "/ Too many messages in mailbox"), "gus@gmx.example", "quota", False, "4.2.2", 7)
    add("k7-line-limit.eml", postfix(
        "hal@example.com", "5.3.4", "552 5.3.4 Line limit exceeded"),
        "hal@example.com", "quota", False, "5.3.4", 7)

    return out


def write(folder: Path, messages: dict[str, tuple[str, dict]], readme: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.eml"):
        old.unlink()
    labels = {}
    for name, (text, label) in sorted(messages.items()):
        (folder / name).write_bytes(text.encode("utf-8"))
        labels[name] = label
    (folder / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n")
    (folder / "README.md").write_text(readme)


def main() -> int:
    write(NEGATIVES, negatives(), "# Negatives\n\nMail that is not a bounce but lands in a "
          "bounce mailbox, written for this project by `tools/gen_test_mail.py` (run it to "
          "rebuild this folder; do not edit the files). See that script's docstring for the "
          "labels.\n")
    write(WRITTEN, written(), "# Bounces written after the MTAs' formats\n\nOne or more "
          "bounces for each kind of error of issue 13, written for this project by "
          "`tools/gen_test_mail.py` (run it to rebuild this folder; do not edit the files) "
          "after the MTAs' sources and the vendors' documented texts.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
