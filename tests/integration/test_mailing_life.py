"""A mailing's whole life with a real Postfix, real refusals and Dovecot, as a user sees it.

Odoo sends through a real Postfix, which relays by real MX lookups (NSD) to
"remote" servers refusing recipients the ways providers do
(tests/data/mta_catalogue.json, replayed by SMTP sinks); Postfix's DSNs go,
like any mail, to the MX of the VERP return domain, which hands them to
Dovecot as an MX and its local delivery agent would. Then, as a marketing
user would, through the command line of the jobs (``civimail run-job``):

1. a mailing to 30 contacts: each refused recipient's trace bounced with its
   bounce type, holds at the types' thresholds (Blocked holds nobody), an
   out-of-office to the reply address counted as Away;
2. an email to the ``List-Unsubscribe`` mailto, one to the opt-out address and
   a reply to the reply address: unsubscribed, blocklisted, replied and
   forwarded (through the outgoing server, the reader in ``Reply-To``);
3. a second mailing read over POP3S (held and blocklisted contacts skipped at
   start, soft bounces counted again), with a forged DSN and unsubscribe, a
   replayed DSN and unsubscribe, and a malformed message in the IMAP mailbox:
   ignored with their reasons, the replays counted apart;
4. a CiviMail Manager releases a held contact and the next mailing reaches it.

Layout: everything on loopback addresses of the host (a /24 of 127/8 chosen
per run, port 25 for the "remote" servers and the DNS on port 53, as root);
Postfix on 127.0.0.1 and a free port, in a private mount namespace whose
/etc/resolv.conf names the test's NSD (harness/mta.py). Odoo and PostgreSQL
stay in the host's namespaces.
"""

import email
import email.policy
import json
import os
import random
import re
import smtplib
import subprocess
import sys
import tempfile
import time
from collections import Counter
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid
from pathlib import Path

import pytest

from civimail_addon.engine.verp import VerpCodec
from harness import HarnessError, free_ports, log_tail, remove_tree
from harness.bounce_generator import load_catalogue, recipient_of, reply_of
from harness.dns_server import DnsServer
from harness.mta import Postfix
from harness.smtp_sink import SmtpSink, reply_text
from tools.odoo_driver import unique_dbname

NET = f"127.{random.randrange(100, 250)}.{random.randrange(256)}"  # noqa: S311 - not a secret
DNS_IP = f"{NET}.53"
REMOTE_MX = f"{NET}.10"  # replays the refusals of most providers, accepts the rest
GREETING_MX = f"{NET}.11"  # refuses at the greeting (a blocklisted sending IP)
SENDER_REFUSING_MX = f"{NET}.12"  # refuses the sender at MAIL FROM
MAILBOX_MX = f"{NET}.20"  # the MX of the return domains, delivering to Dovecot

BOUNCE_DOMAIN = "bounces.test"  # read over IMAPS
POP_DOMAIN = "returns.test"  # read over POP3S
POP_USER, POP_PASSWORD = "pop", "pop-secret"
FROM = "News <news@origin.test>"
TEAM = "team@origin.test"  # where replies are forwarded
LIFETIME = 5  # seconds Postfix retries a temporary refusal before its DSN

CATALOGUE = {entry["id"]: entry for entry in load_catalogue()}
# Refusals the way real servers refuse: unknown users (at RCPT and after DATA),
# a disabled mailbox, full mailboxes (one temporary until the queue gives up),
# content refused as spam, the sending IP or the sender refused (Blocked: at
# RCPT, at the greeting, at MAIL FROM), greylisting forever, a domain that
# does not exist.
REFUSED = ["gmail-nosuchuser", "m365-recipientnotfound", "orange-invalid", "yahoo-nouser",
           "mimecast-invalid", "gmail-disabled", "gmail-overquota", "icloud-quota",
           "yahoo-policy", "m365-bannedip", "outlook-blocklist", "webde-sender", "nxdomain",
           "postgrey"]
ACCEPTED = [f"reader{n:02d}@ok.test" for n in range(1, 17)]
UNSUBSCRIBER, OPTING_OUT, REPLIER, AWAY = ACCEPTED[:4]
RELEASED = recipient_of(CATALOGUE["gmail-disabled"])
STILL_HELD = recipient_of(CATALOGUE["gmail-nosuchuser"])


def zone():
    """The zone ``test.``: each provider's domain with its MX, ours, and none for nxdomain."""
    records = ["ns1 A 127.0.0.1", f"mx-remote A {REMOTE_MX}", f"mx-greeting A {GREETING_MX}",
               f"mx-sender A {SENDER_REFUSING_MX}", f"mx-mailbox A {MAILBOX_MX}"]
    for domain in ("ok", "origin"):
        records.append(f"{domain} MX 10 mx-remote")
    for domain in (BOUNCE_DOMAIN, POP_DOMAIN):
        records.append(f"{domain.removesuffix('.test')} MX 10 mx-mailbox")
    for entry_id in REFUSED:
        stage = CATALOGUE[entry_id]["stage"]
        host = {"connect": "mx-greeting", "mail": "mx-sender", "dns": None}.get(stage, "mx-remote")
        if host:
            records.append(f"{entry_id} MX 10 {host}")
    return "\n".join(records) + "\n"


# -- the servers --------------------------------------------------------------------------


class Network:
    """NSD, the remote MXes, the return domains' MX and Postfix, on loopback."""

    def __init__(self, dovecot, workdir):
        self.dovecot = dovecot
        self.workdir = workdir
        self.handed = set()  # sequences of the return MX's messages already in Dovecot
        self.delivered = []  # what went into Dovecot, as it went
        self.servers = []

    def start(self):
        self.dns = DnsServer(zones={"test": zone()}, workdir=self.workdir / "nsd")
        self.dns.host, self.dns.port = DNS_IP, 53
        self._started(self.dns)
        self.remote = self._started(SmtpSink(host=REMOTE_MX, port=25))
        greeting = CATALOGUE["outlook-blocklist"]
        self._started(SmtpSink(host=GREETING_MX, port=25, greeting=reply_text(
            greeting["code"], reply_of(greeting))))
        refusing = self._started(SmtpSink(host=SENDER_REFUSING_MX, port=25))
        refusing.reject("*", CATALOGUE["webde-sender"]["code"],
                        reply_of(CATALOGUE["webde-sender"]), stage="mail")
        for entry_id in REFUSED:
            entry = CATALOGUE[entry_id]
            if entry["stage"] in ("rcpt", "data"):
                self.remote.reject(recipient_of(entry), entry["code"], reply_of(entry),
                                   stage=entry["stage"])
        self.mailbox = self._started(SmtpSink(host=MAILBOX_MX, port=25))
        self.postfix = self._started(Postfix(
            self.workdir / "postfix", "127.0.0.1", "mta.origin.test", lifetime=LIFETIME,
            port=free_ports(1)[0], delay_warning=0, nameserver=DNS_IP))
        return self

    def _started(self, server):
        self.servers.append(server)
        return server.start()

    def stop(self):
        for server in reversed(self.servers):
            (getattr(server, "close", None) or server.stop)()

    def submit(self, message, sender=None, recipients=None):
        """Send a message through Postfix, as a mail client or a remote server does."""
        with smtplib.SMTP(self.postfix.address, self.postfix.port, timeout=30) as client:
            client.send_message(message, from_addr=sender, to_addrs=recipients)

    def hand_to_dovecot(self):
        """What the return domains' MX received, into each domain's mailbox, with the
        Return-Path and Delivered-To a local delivery agent adds."""
        users = {BOUNCE_DOMAIN: self.dovecot.user, POP_DOMAIN: POP_USER}
        for message in self.mailbox.messages():
            if message.sequence in self.handed:
                continue
            for rcpt in message.rcpt_tos:
                envelope = f"Return-Path: <{message.mail_from}>\nDelivered-To: {rcpt}\n"
                raw = envelope.encode() + message.data.replace(b"\r\n", b"\n")
                self.dovecot.deliver(raw, user=users[rcpt.rsplit("@", 1)[1].lower()])
                self.delivered.append(raw)
            self.handed.add(message.sequence)

    def wait_for_returns(self, count, timeout=60):
        """Wait until the return MX has received ``count`` messages in all (Postfix
        retrying its queue meanwhile), then hand them to Dovecot."""
        deadline = time.monotonic() + timeout
        while self.mailbox.count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the return MX received {self.mailbox.count()} of {count} messages in "
                    f"{timeout}s" + log_tail(self.postfix.log_file, 40))
            time.sleep(0.5)
            self.postfix.flush()
        self.hand_to_dovecot()

    def received_by(self, address):
        """Messages the remote MXes accepted for ``address``."""
        return [m for m in self.remote.messages() if address in m.rcpt_tos]


@pytest.fixture
def network(dovecot):
    if os.geteuid() != 0:
        pytest.fail("the mailing's life runs Postfix and the remote MXes on port 25 and the "
                    "DNS on port 53 of loopback addresses: run it as root", pytrace=False)
    dovecot.add_user(POP_USER, POP_PASSWORD)
    workdir = Path(tempfile.mkdtemp(prefix="civimail-life-"))
    workdir.chmod(0o755)  # Postfix's own user reaches its folders in it
    network = Network(dovecot, workdir)
    try:
        network.start()
    except (HarnessError, OSError) as error:
        network.stop()
        remove_tree(workdir)
        pytest.fail(f"the mail network did not start: {error}", pytrace=False)
    yield network
    network.stop()
    remove_tree(workdir)


@pytest.fixture
def life_db(odoo):
    dbname = unique_dbname("civimail_life")
    try:
        odoo.install(dbname)
        yield dbname
    finally:
        odoo.drop_database(dbname)


# -- Odoo: the shell, the jobs and the database --------------------------------------------


SETUP = """
import json
env["ir.mail_server"].create({{"name": "Postfix", "smtp_host": "{postfix_host}",
    "smtp_port": {postfix_port}, "smtp_encryption": "none", "sequence": 1}})
Account = env["civimail.mail.account"]
Account.search([]).active = False
imap = Account.create({{"name": "Bounces (IMAPS)", "usage": "bounce", "protocol": "imap",
    "host": "{dovecot_host}", "port": {imaps_port}, "security": "ssl", "username": "{imap_user}",
    "password": "{imap_password}", "local_part": "return+", "email_domain": "{bounce_domain}",
    "is_default": True}})
pop = Account.create({{"name": "Returns (POP3S)", "usage": "bounce", "protocol": "pop3",
    "host": "{dovecot_host}", "port": {pop3s_port}, "security": "ssl", "username": "{pop_user}",
    "password": "{pop_password}", "local_part": "return+", "email_domain": "{pop_domain}"}})
params = env["ir.config_parameter"]
params.set_param("civimail_addon.delivery_mode", "send")
manager = env["res.users"].create({{"name": "Manon Manager", "login": "manon",
    "email": "manon@origin.test",
    "groups_id": [(4, env.ref("mass_mailing.group_mass_mailing_user").id),
                  (4, env.ref("civimail_addon.group_civimail_manager").id)]}})
marketer = env["res.users"].create({{"name": "Mark Eting", "login": "mark",
    "email": "mark@origin.test",
    "groups_id": [(4, env.ref("mass_mailing.group_mass_mailing_user").id)]}})
partners = env["res.partner"].create([{{"name": email.split("@")[0], "email": email}}
                                      for email in {emails!r}])
mailing = env["mailing.mailing"].with_user(marketer).create({{
    "subject": "Autumn news", "email_from": "{sender}",
    "body_html": "<p>Dear <t t-out='object.name'/>, our autumn news.</p>"
                 "<p><a href='mailto:{{action.optOut}}'>Never email me again</a></p>",
    "mailing_model_id": env["ir.model"]._get_id("res.partner"),
    "mailing_domain": repr([("id", "in", partners.ids)]),
    "civimail_track_replies": True, "reply_to_mode": "new", "reply_to": "{team}"}})
mailing.action_put_in_queue()
env.cr.commit()
print("RESULT " + json.dumps({{"mailing": mailing.id, "imap": imap.id, "pop": pop.id,
    "manager": manager.id, "marketer": marketer.id,
    "partners": dict(zip(partners.mapped("email"), partners.ids))}}))
"""

# The forward of the reply waits in the host's mail queue, which its scheduled
# action sends; then the second mailing, its returns to the POP3S account.
SECOND_MAILING = """
import json
env.ref("mail.ir_cron_mail_scheduler_action").method_direct_trigger()
pop = env["civimail.mail.account"].browse({pop})
pop.is_default = True
marketer = env["res.users"].browse({marketer})
first = env["mailing.mailing"].browse({mailing})
second = first.with_user(marketer).copy({{"subject": "Winter news",
                                         "civimail_track_replies": False}})
second.action_put_in_queue()
env.cr.commit()
print("RESULT " + json.dumps({{"mailing": second.id, "default": pop.is_default}}))
"""

# A CiviMail Manager releases a held contact (the contact form's Release button);
# a third mailing to it and to a contact still held.
RELEASE = """
import json
manager = env["res.users"].browse({manager})
released = env["res.partner"].with_user(manager).browse({released})
released.action_civimail_release_hold()
marketer = env["res.users"].browse({marketer})
third = env["mailing.mailing"].with_user(marketer).create({{
    "subject": "Spring news", "email_from": "{sender}",
    "body_html": "<p>Dear <t t-out='object.name'/>, spring is here.</p>",
    "mailing_model_id": env["ir.model"]._get_id("res.partner"),
    "mailing_domain": repr([("id", "in", [{released}, {still_held}])])}})
third.action_put_in_queue()
env.cr.commit()
print("RESULT " + json.dumps({{"mailing": third.id, "on_hold": released.email_on_hold}}))
"""

# What the user reads, in English: the job log and the processed messages.
WORDS = """
import json
env = env(context=dict(env.context, lang="en_US"))
logs = env["civimail.job.log"].search([("job", "in", ["send_mailings", "fetch_bounces"])],
                                      order="id")
processed = env["civimail.processed.message"].search([], order="id")
mailings = env["mailing.mailing"].search([], order="id")
print("RESULT " + json.dumps({
    "log": [[log.job, log.status, log.message] for log in logs],
    "processed": [[m.account_id.name, m.subject or "", m.outcome, m.result or "", m.reason or ""]
                  for m in processed],
    "holds": {p.email_normalized: p.email_hold_reason
              for p in env["res.partner"].search([("email_on_hold", "=", True)])},
    "mailings": {m.subject: {"sent": m.civimail_sent, "bounced": m.civimail_bounced,
                             "skipped": m.civimail_skipped, "replied": m.civimail_replied,
                             "on_hold": m.civimail_on_hold} for m in mailings},
}))
"""


class OdooSide:
    """The jobs from the command line, scripts in ``odoo shell``, reads in the database."""

    def __init__(self, odoo, dbname, ca_file):
        self.odoo, self.dbname, self.ca_file = odoo, dbname, ca_file

    def shell(self, script, **values):
        result = self.odoo.run("shell", "-d", self.dbname, "--no-http",
                               input_text=script.format(**values) if values else script)
        assert result.returncode == 0, result.stderr[-3000:]
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
        assert lines, f"the script said nothing:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        return json.loads(lines[-1].removeprefix("RESULT "))

    def run_job(self, job):
        """``civimail run-job JOB``, as system cron runs it; the lines it wrote."""
        before = self.query("SELECT coalesce(max(id), 0) FROM civimail_job_log")[0][0]
        options = self.odoo.options
        command = self.odoo.command(
            "civimail", "run-job", job, "-d", self.dbname, "--db_host", options["db_host"],
            "--db_port", options["db_port"], "--db_user", options["db_user"],
            "-D", options["data_dir"], addons_path_first=True)
        # The test CA signs Dovecot's certificate: trusted as an admin trusts a private CA.
        result = subprocess.run(command, env=self.odoo.environ(SSL_CERT_FILE=self.ca_file),
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        return self.query("SELECT status, message_data FROM civimail_job_log "
                          "WHERE job = %s AND id > %s ORDER BY id", [job, before])

    def query(self, sql, params=()):
        connection = self.odoo.connect(self.dbname)
        try:
            with connection.cursor() as cr:
                cr.execute(sql, params)
                return cr.fetchall()
        finally:
            connection.close()

    def traces(self, mailing):
        """{email: (status, failure type, replied, unsubscribed, opted out)}."""
        return {email: rest for email, *rest in self.query(
            "SELECT email, trace_status, failure_type, civimail_unsubscribe_date IS NOT NULL, "
            "civimail_opt_out_date IS NOT NULL FROM mailing_trace WHERE mass_mailing_id = %s",
            [mailing])}

    def bounces(self, mailing):
        """{email: [(bounce type, hard)]} of a mailing."""
        found = {}
        for email_address, code, hard in self.query(
                "SELECT b.email, t.code, b.hard FROM civimail_bounce b "
                "JOIN civimail_bounce_type t ON t.id = b.type_id "
                "WHERE b.mailing_id = %s ORDER BY b.id", [mailing]):
            found.setdefault(email_address, []).append((code, bool(hard)))
        return found

    def holds(self):
        """{email: bounce type that put it on hold} of the contacts on hold."""
        return dict(self.query(
            "SELECT p.email_normalized, t.code FROM res_partner p "
            "LEFT JOIN civimail_bounce_type t ON t.id = p.email_hold_type_id "
            "WHERE p.email_on_hold"))

    def thresholds(self):
        return dict(self.query("SELECT code, hold_threshold FROM civimail_bounce_type"))

    def blocklist(self):
        return {email for (email,) in self.query(
            "SELECT email FROM mail_blacklist WHERE active")}

    def processed(self, after=0):
        """[(account, outcome, label, reason codes)] of the processed messages after id."""
        return [(account, outcome, label, reason_codes(reason))
                for account, outcome, label, reason in self.query(
                    "SELECT a.name, m.outcome, m.label, m.reason_data "
                    "FROM civimail_processed_message m "
                    "JOIN civimail_mail_account a ON a.id = m.account_id "
                    "WHERE m.id > %s ORDER BY m.id", [after])]

    def last_processed(self):
        return self.query("SELECT coalesce(max(id), 0) FROM civimail_processed_message")[0][0]


# -- what readers send ----------------------------------------------------------------


def reader_message(sender, to, subject, body, **headers):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="ok.test")
    message["Date"] = email.utils.formatdate()
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def unsubscribe_mailto(received):
    """The ``mailto:`` address of a received message's List-Unsubscribe (RFC 2369)."""
    for part in received.message["List-Unsubscribe"].split(","):
        target = part.strip().strip("<>")
        if target.startswith("mailto:"):
            return target.removeprefix("mailto:").split("?", 1)[0]
    raise AssertionError(f"no mailto in List-Unsubscribe: {received.message['List-Unsubscribe']}")


def forged_dsn(verp_address, recipient):
    """A DSN as Postfix writes one, to a VERP address whose signature is not ours."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.elsewhere.test>\n"
        f"To: {verp_address}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: {make_msgid(domain='mx.elsewhere.test')}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--b1\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.elsewhere.test\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: "
        "User unknown\n\n--b1--\n"
    )


MALFORMED = (
    b"From: \xff\xfe<<<@@\n"
    b"To: return+b.garbage@" + BOUNCE_DOMAIN.encode() + b"\n"
    b"Subject: =?utf-8?B?////?= =?x-unknown?Q?=ZZ?=\n"
    b"Message-ID: <malformed.1@elsewhere.test>\n"
    b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="never-closed"\n'
    b"Content-Transfer-Encoding: base64\n\n"
    b"--never-closed\nContent-Type: message/delivery-status\n\n"
    b"Final-Recipient: rfc822;\nAction: \x00failed\nStatus: 9.9.9.9\n"
    + b"=" * 5000 + b"\n\x00\x01\x02 not base64 at all\n"
)


def opt_out_mailto(received):
    """The opt-out address a received message's HTML body links to (CiviCRM's token)."""
    html = received.message.get_body(("html",)).get_content()
    found = re.search(r'href="mailto:(return\+o\.[^"?]+)"', html)
    assert found, f"no opt-out link in the message: {html[:500]}"
    return found.group(1)


def codec(side, domain):
    secrets = side.query("SELECT value FROM ir_config_parameter WHERE key = %s",
                         ["civimail_addon.verp_secret"])
    return VerpCodec("return+", domain, [secrets[0][0]])


def expected_type(address):
    """(bounce type, hard) the catalogue says a refusal means."""
    entry = CATALOGUE[address.split("@")[0]]
    return entry["type"], entry["hard"]


def facts(said):
    """The facts of a job log line (a fact, or lists of them), in order."""
    if isinstance(said, dict):
        return [said]
    return [fact for item in said for fact in facts(item)]


def reason_codes(reason):
    """The codes of a stored reason's facts (a text stored as such stays itself)."""
    if isinstance(reason, (dict, list)):
        return tuple(fact["code"] for fact in facts(reason))
    return reason


def fetch_lines(said):
    """{account: (processed, ignored, {result: count}, already processed)} of a Fetch
    Bounces line."""
    lines, account = {}, None
    for fact in facts(said):
        values = fact["params"]
        if fact["code"].startswith("fetch_account"):
            account = values["account"]
            results = {r["params"]["result"]["result"]: r["params"]["count"]
                       for r in values.get("results", ())}
            lines[account] = [values["processed"], values["ignored"], results, 0]
        elif fact["code"] == "fetch_already_processed":
            lines[account][3] = values["count"]
    return {account: tuple(line) for account, line in lines.items()}





# -- the run ------------------------------------------------------------------------------


class MailingLife:
    """The run, phase by phase; what each phase leaves, the next one checks."""

    def __init__(self, odoo, dbname, network, dovecot):
        self.side = OdooSide(odoo, dbname, dovecot.ca_file)
        self.network, self.dovecot = network, dovecot
        self.refused = [recipient_of(CATALOGUE[entry_id]) for entry_id in REFUSED]
        self.ids = self.side.shell(
            SETUP, postfix_host=network.postfix.address, postfix_port=network.postfix.port,
            dovecot_host=dovecot.host, imaps_port=dovecot.imaps_port,
            pop3s_port=dovecot.pop3s_port, imap_user=dovecot.user,
            imap_password=dovecot.password, pop_user=POP_USER, pop_password=POP_PASSWORD,
            bounce_domain=BOUNCE_DOMAIN, pop_domain=POP_DOMAIN,
            emails=ACCEPTED + self.refused, sender=FROM, team=TEAM)
        self.partners, self.first = self.ids["partners"], self.ids["mailing"]
        self.returns = 0  # messages the return MX received so far
        # Contacts on hold after the first mailing: one bounce of a type whose
        # threshold is 1 (the types' thresholds as the database has them).
        thresholds = self.side.thresholds()
        self.held = {address: expected_type(address)[0] for address in self.refused
                     if 0 < thresholds[expected_type(address)[0]] <= 1}
        self.skipped = {*self.held, UNSUBSCRIBER, OPTING_OUT}  # by the second mailing
        self.second_refused = [a for a in self.refused if a not in self.skipped]
        self.second_accepted = 30 - len(self.skipped) - len(self.second_refused)

    def trace_id(self, address, mailing):
        return self.side.query("SELECT id FROM mailing_trace WHERE mass_mailing_id = %s "
                               "AND email = %s", [mailing, address])[0][0]

    def job(self, name):
        """Run a job from the command line; what its one line says, that line OK."""
        [(status, said)] = self.side.run_job(name)
        assert status == "ok", said
        return said

    def send_first_mailing(self):
        """Postfix takes every message; the remote servers refuse some, later."""
        said = self.job("send_mailings")
        assert said[0]["code"] == "send_done"
        assert said[0]["params"] == {"sent": 30, "failed": 0, "bounced": 0, "skipped": 0,
                                     "retry": 0}, "Postfix accepted all 30"
        assert {email for email, (status, *_rest) in self.side.traces(self.first).items()
                if status == "sent"} == set(ACCEPTED + self.refused)
        self.network.remote.wait_for(len(ACCEPTED), timeout=30)
        for address in ACCEPTED:
            assert len(self.network.received_by(address)) == 1, f"{address} never got it"

    def readers_answer(self):
        """Sent as mail clients send, through Postfix: one reader writes to the
        List-Unsubscribe mailto, one to the opt-out address, one replies, one's
        server answers "out of office" to the Reply-To."""
        network = self.network
        unsubscribe_to = unsubscribe_mailto(network.received_by(UNSUBSCRIBER)[0])
        assert unsubscribe_to.startswith("return+u.") and unsubscribe_to.endswith(BOUNCE_DOMAIN)
        network.submit(reader_message(UNSUBSCRIBER, unsubscribe_to, "Stop", "No more, thanks."))
        # The body's {action.optOut} token became the reader's own opt-out address.
        opt_out_to = opt_out_mailto(network.received_by(OPTING_OUT)[0])
        assert opt_out_to == codec(self.side, BOUNCE_DOMAIN).build(
            self.trace_id(OPTING_OUT, self.first), OPTING_OUT, "o")
        network.submit(reader_message(OPTING_OUT, opt_out_to, "opt out", "Never again."))
        replied_to = network.received_by(REPLIER)[0].message
        assert getaddresses([replied_to["Reply-To"]])[0][1].startswith("return+r.")
        network.submit(reader_message(
            f"Reader Three <{REPLIER}>", replied_to["Reply-To"], f"Re: {replied_to['Subject']}",
            "Lovely news, can I bring a friend on Saturday?",
            In_Reply_To=replied_to["Message-ID"]))
        away_to = network.received_by(AWAY)[0].message["Reply-To"]
        network.submit(reader_message(
            AWAY, away_to, "Out of office: Autumn news", "I am away until Monday.",
            Auto_Submitted="auto-replied", X_Autoreply="yes"), sender="")
        self.returns += len(self.refused) + 4
        network.wait_for_returns(self.returns)

    def fetch_first_returns(self):
        """Fetch Bounces over IMAPS: bounces by type, holds, requests done."""
        side = self.side
        before = side.last_processed()
        said = self.job("fetch_bounces")
        by_type = Counter(expected_type(address)[0] for address in self.refused)
        assert fetch_lines(said) == {
            "Bounces (IMAPS)": (len(self.refused) + 4, 0, {
                **by_type, "away": 1, "unsubscribed": 1, "opted_out": 1, "replied": 1}, 0),
            "Returns (POP3S)": (0, 0, {}, 0)}
        assert all(outcome == "processed" for _a, outcome, _l, _r in side.processed(before))
        bounces = side.bounces(self.first)
        for address in self.refused:
            assert bounces.get(address) == [expected_type(address)], address
        assert bounces[AWAY] == [("away", False)], "an out-of-office to the reply address"
        assert set(bounces) == {*self.refused, AWAY}, "the accepted readers did not bounce"
        traces = side.traces(self.first)
        for address in self.refused:
            assert traces[address][0] == "bounce", address
        for address in ACCEPTED:  # the out-of-office too: the message arrived
            assert traces[address][0] == ("reply" if address == REPLIER else "sent"), address
        assert traces[UNSUBSCRIBER][2] and traces[OPTING_OUT][3], "the traces say so"
        assert side.holds() == self.held
        assert set(self.held.values()) == {"invalid", "inactive", "spam"}, \
            "Blocked holds nobody; Quota, Host and Dns wait for more bounces"
        assert side.blocklist() == {UNSUBSCRIBER, OPTING_OUT}
        [[todo]] = side.query(
            "SELECT count(*) FROM mail_activity WHERE res_model = 'civimail.mail.account' "
            "AND res_id = %s AND user_id = %s AND summary = %s",
            [self.ids["imap"], self.ids["manager"], "Mail blocked by a receiving server"])
        assert todo == 1, "a CiviMail Manager is told once that servers refuse the sender"
        for address, text in ((REPLIER, "bring a friend"),
                              (UNSUBSCRIBER, "Blocklisted by an unsubscribe email"),
                              (OPTING_OUT, "Blocklisted by an opt-out email")):
            [[count]] = side.query(
                "SELECT count(*) FROM mail_message WHERE model = 'res.partner' "
                "AND res_id = %s AND body::text LIKE %s", [self.partners[address], f"%{text}%"])
            assert count == 1, f"{address}'s contact shows {text!r}"

    def send_second_mailing(self):
        """The reply's forward leaves through the host's mail queue and Postfix; the
        second mailing skips held and blocklisted contacts, its returns go to POP3S."""
        self.second = self.side.shell(SECOND_MAILING, pop=self.ids["pop"],
                                      marketer=self.ids["marketer"], mailing=self.first)["mailing"]
        received = self.network.remote.wait_for(len(ACCEPTED) + 1, timeout=30)
        [forwarded] = [m for m in received if TEAM in m.rcpt_tos]
        assert getaddresses([forwarded.message["Reply-To"]])[0][1] == REPLIER
        assert getaddresses([forwarded.message["From"]])[0][1] == "news@origin.test"
        assert "bring a friend" in forwarded.message.get_body(("plain", "html")).get_content()
        said = self.job("send_mailings")
        assert said[0]["params"] == {"sent": 30 - len(self.skipped), "failed": 0, "bounced": 0,
                                     "skipped": len(self.skipped), "retry": 0}, \
            "the run counts the recipients skipped at start"
        traces = self.side.traces(self.second)
        assert {email for email, (status, *_r) in traces.items() if status == "cancel"} \
            == self.skipped
        assert {email for email, (_s, failure, *_r) in traces.items()
                if failure == "civimail_hold"} == set(self.held)

    def hostile_returns(self):
        """In the IMAP mailbox: a forged DSN and a forged unsubscribe (genuine traces,
        not our signature), a genuine DSN and the unsubscribe email again, a
        malformed message."""
        forged_to = (f"return+b.{self.trace_id(ACCEPTED[5], self.first)}.{'0' * 16}"
                     f"@{BOUNCE_DOMAIN}")
        self.network.submit(email.message_from_string(
            forged_dsn(forged_to, ACCEPTED[5]), policy=email.policy.SMTP),
            sender="", recipients=[forged_to])
        forged_unsubscribe = (f"return+u.{self.trace_id(ACCEPTED[6], self.first)}."
                              f"{'f' * 16}@{BOUNCE_DOMAIN}")
        self.network.submit(reader_message("mallory@elsewhere.test", forged_unsubscribe,
                                           "unsubscribe", "Unsubscribe somebody else."))
        for replayed in (STILL_HELD.encode(), b"\nSubject: Stop\n"):
            [raw] = [raw for raw in self.network.delivered if replayed in raw]
            self.dovecot.deliver(raw)
        self.dovecot.deliver(MALFORMED)
        self.returns += 2 + len(self.second_refused)
        self.network.wait_for_returns(self.returns)

    def fetch_second_returns(self):
        """Fetch Bounces, both accounts: hostile mail changes nothing."""
        side = self.side
        holds, traces = side.holds(), side.traces(self.first)
        before = side.last_processed()
        said = self.job("fetch_bounces")
        lines = fetch_lines(said)
        assert lines["Bounces (IMAPS)"] == (0, 3, {"unidentified": 3}, 2), \
            "forged and malformed ignored; the replays counted apart"
        assert lines["Returns (POP3S)"] == (
            len(self.second_refused), 0,
            Counter(expected_type(a)[0] for a in self.second_refused), 0)
        assert sorted((account, label, reason) for account, outcome, label, reason
                      in side.processed(before) if outcome == "ignored") == [
            ("Bounces (IMAPS)", "unidentified", ("reason_bad_signature",)),
            ("Bounces (IMAPS)", "unidentified", ("reason_bad_signature",)),
            ("Bounces (IMAPS)", "unidentified", ("reason_no_recipient",))]
        assert side.traces(self.first) == traces, "no trace of the first mailing changed"
        assert side.blocklist() == {UNSUBSCRIBER, OPTING_OUT}
        bounces = side.bounces(self.second)
        for address in self.second_refused:
            assert bounces.get(address) == [expected_type(address)], address
        assert side.holds() == holds, "second soft bounces stay under their thresholds"

    def release_and_send_again(self):
        """A CiviMail Manager releases a held contact; the next mailing reaches it."""
        self.network.remote.allow(RELEASED)  # the reader had the mailbox enabled again
        third = self.side.shell(RELEASE, manager=self.ids["manager"],
                                marketer=self.ids["marketer"], sender=FROM,
                                released=self.partners[RELEASED],
                                still_held=self.partners[STILL_HELD])
        assert third["on_hold"] is False
        said = self.job("send_mailings")
        assert said[0]["params"] == {"sent": 1, "failed": 0, "bounced": 0, "skipped": 1,
                                     "retry": 0}
        # The remote MXes kept: the first mailing's accepted, the forward, the
        # second mailing's accepted, and now the released reader's.
        self.network.remote.wait_for(len(ACCEPTED) + 1 + self.second_accepted + 1, timeout=30)
        assert [m.message["Subject"] for m in self.network.received_by(RELEASED)] \
            == ["Spring news"]
        traces = self.side.traces(third["mailing"])
        assert traces[RELEASED][0] == "sent"
        assert traces[STILL_HELD][:2] == ["cancel", "civimail_hold"]

    def words(self):
        """What the user reads, in words: the job log, the processed messages, the
        mailings' counters. Returns the job log."""
        words = self.side.shell(WORDS)
        log = [message for _job, _status, message in words["log"]]
        assert log[0] == "30 sent, 0 failed, 0 bounced, 0 skipped, 0 to retry."
        assert log[2] == (f"{30 - len(self.skipped)} sent, 0 failed, 0 bounced, "
                          f"{len(self.skipped)} skipped, 0 to retry.")
        assert log[4] == "1 sent, 0 failed, 0 bounced, 1 skipped, 0 to retry."
        assert f"Bounces (IMAPS): {len(self.refused) + 4} processed, 0 ignored (" in log[1]
        for result in ("Invalid 5", "Blocked 3", "Quota 2", "unsubscribed 1", "opted out 1",
                       "replied 1", "Away 1"):
            assert result in log[1]
        assert f"Returns (POP3S): {len(self.second_refused)} processed, 0 ignored (" in log[3]
        assert "Bounces (IMAPS): 0 processed, 3 ignored" in log[3]
        assert "2 already processed" in log[3]
        ignored = {subject: reason for _account, subject, outcome, _result, reason
                   in words["processed"] if outcome == "ignored"}
        for forged in ("Undelivered Mail Returned to Sender", "unsubscribe"):
            assert ignored.pop(forged).endswith("has a bad signature (forged or damaged)")
        [malformed] = ignored.values()
        assert malformed == "Neither a failed recipient nor a VERP address of this database"
        assert words["holds"] == {
            address: f"1 bounce of type “{code.capitalize()}” (threshold 1)"
            for address, code in self.held.items() if address != RELEASED}
        assert words["mailings"] == {
            "Autumn news": {"sent": len(ACCEPTED), "bounced": len(self.refused), "skipped": 0,
                            "replied": 1, "on_hold": 0},
            "Winter news": {"sent": self.second_accepted, "bounced": len(self.second_refused),
                            "skipped": len(self.skipped), "replied": 0,
                            "on_hold": len(self.held)},
            "Spring news": {"sent": 1, "bounced": 0, "skipped": 1, "replied": 0, "on_hold": 1},
        }
        return log


def test_a_mailings_whole_life(odoo, life_db, network, dovecot):
    started = time.monotonic()
    life = MailingLife(odoo, life_db, network, dovecot)
    life.send_first_mailing()
    life.readers_answer()
    life.fetch_first_returns()
    life.send_second_mailing()
    life.hostile_returns()
    life.fetch_second_returns()
    life.release_and_send_again()
    log = life.words()
    # Shown with pytest -s: the job log as the user reads it, and the run's time.
    sys.stdout.write("\n".join([*log, f"mailing life: {time.monotonic() - started:.1f} s "
                                      "after the database's install", ""]))
