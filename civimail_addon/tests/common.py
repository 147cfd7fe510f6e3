"""What the module's tests share. They run on a stock Odoo with PostgreSQL only.

No mail or DNS server is needed: mail accounts read local Maildirs
(``CivimailMailCase``), DNS answers come from zones a test writes, served
through dnspython's own resolver patched at its one query method
(``DnsZones``), what the host sends is caught by its own ``MockEmail``, and
the few stored messages are in ``tests/data`` (written for this project).
The tests that need real Dovecot, SMTP and DNS servers or the bounce corpus
are in the repository's tests/integration (the ``civimail_integration``
test addon), which reuses these cases.
"""

import os
import shutil
import tempfile
import time
from email.utils import make_msgid
from pathlib import Path
from unittest.mock import patch

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.zone
from odoo.tests import common, new_test_user

from ..engine.mailbox import IGNORED, PROCESSED

DATA = Path(__file__).resolve().parent / "data"


class CivimailCase(common.TransactionCase):
    """Users of each CiviMail role, shared by the module's tests."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # CiviMail users work in Email Marketing, whose users are CiviMail users.
        cls.user_civimail = new_test_user(
            cls.env, login="civimail_user", groups="mass_mailing.group_mass_mailing_user",
            name="CiviMail User",
        )
        cls.user_manager = new_test_user(
            cls.env, login="civimail_manager",
            groups="mass_mailing.group_mass_mailing_user,civimail_addon.group_civimail_manager",
            name="CiviMail Manager",
        )
        cls.user_internal = new_test_user(
            cls.env, login="civimail_internal", groups="base.group_user", name="Internal User",
        )


def make_dsn(verp_address, recipient, status="5.1.1",
             diagnostic="smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
             message_id=None):
    """A RFC 3464 delivery status notification returned to ``verp_address``."""
    message_id = message_id or make_msgid(domain="mx.example.net")
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {verp_address}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"\r\n'
        "\r\n--dsn\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system at host mx.example.net. Your message could not be\r\n"
        "delivered to one or more recipients.\r\n"
        "\r\n--dsn\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=recipient)}\r\n"
        "\r\n--dsn--\r\n"
    ).encode()


class CivimailMailCase(CivimailCase):
    """A mailing, its traces, and mail accounts reading a Maildir of the test's own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The suite may run on a database with demo data: its mail accounts
        # would be the default bounce account and read by every job run.
        cls.env["civimail.mail.account"].search([]).active = False
        cls.mailing = cls.env["mailing.mailing"].create({
            "subject": "Autumn newsletter",
            "body_html": "<p>Hello</p>",
            "mailing_model_id": cls.env["ir.model"]._get_id("res.partner"),
            "user_id": cls.env.user.id,
        })

    def setUp(self):
        super().setUp()
        self.mail_root = Path(tempfile.mkdtemp(prefix="civimail-test-mail-"))
        self.addCleanup(shutil.rmtree, self.mail_root, True)

    def maildir(self, folder="INBOX"):
        """The Maildir standing for an IMAP folder of that name (made on first use)."""
        path = self.mail_root / folder
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        return path

    def deliver(self, raw_message, folder="INBOX"):
        """Drop a message into a folder as a delivery agent does (tmp/, then new/)."""
        if isinstance(raw_message, str):
            raw_message = raw_message.encode()
        name = f"{time.time_ns()}.P{os.getpid()}.test"
        tmp = self.maildir(folder) / "tmp" / name
        tmp.write_bytes(raw_message)
        final = tmp.parent.parent / "new" / name
        tmp.rename(final)
        return final

    def make_account(self, folder="INBOX", **values):
        """A Maildir account reading ``folder``, set aside into its processed/ and ignored/."""
        defaults = {
            "name": "Bounces",
            "usage": "bounce",
            "protocol": "maildir",
            "path": str(self.maildir(folder)),
            "local_part": "return+",
            "email_domain": "example.org",
        }
        return self.env["civimail.mail.account"].create({**defaults, **values})

    def make_trace(self, partner, mailing=None):
        return self.env["mailing.trace"].create({
            "mass_mailing_id": (mailing or self.mailing).id,
            "model": "res.partner",
            "res_id": partner.id,
            "email": partner.email_normalized,
            "trace_status": "sent",
        })

    def folder_files(self, folder="INBOX"):
        """Message files of a folder; ``<folder>.processed`` is what the account set aside.

        An IMAP account marks into ``<folder>.processed``; a Maildir account into
        ``processed/`` inside its path: the same names serve both suites.
        """
        base, _dot, target = folder.rpartition(".")
        if target in (PROCESSED, IGNORED):
            path = self.maildir(base) / target
        else:
            path = self.maildir(folder)
        return sorted(p for sub in ("new", "cur") if (path / sub).is_dir()
                      for p in (path / sub).iterdir())

class MailingCaseMixin:
    """Mailings to four readers of a company whose bounces return to a directory account."""

    @classmethod
    def setup_mailings(cls):
        cls.account = cls.env["civimail.mail.account"].create({
            "name": "Returns", "usage": "bounce", "protocol": "directory",
            "path": tempfile.gettempdir(),
            "local_part": "return+", "email_domain": "bounces.example.org", "is_default": True,
        })
        cls.partners = cls.env["res.partner"].create([
            {"name": f"Reader {n}", "email": f"reader{n}@example.com"} for n in range(4)
        ])

    def make_mailing(self, partners=None, **values):
        partners = self.partners if partners is None else partners
        return self.env["mailing.mailing"].create({
            "subject": "News for {{ object.name }}",
            "body_html": '<p>Dear <t t-out="object.name"/>, <a href="https://example.com/read">'
                         'read</a> or <a href="/unsubscribe_from_list">unsubscribe</a>.</p>',
            "email_from": "News <news@example.org>",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("id", "in", partners.ids)]),
            **values,
        })

    def traces(self, mailing):
        return self.env["mailing.trace"].search([("mass_mailing_id", "=", mailing.id)])

class DnsZones:
    """DNS answers from zones a test sets ({origin: zone file text}), as a server gives them.

    ``patch()`` replaces dnspython's ``Resolver.resolve``, the one call our
    engine (and pyspf through it) makes, so the checks run unchanged: a name
    under no zone is refused (no server answers), a name missing from its
    zone does not exist, a name without that type has no answer. The harness's
    DNS server (tests/integration) has the same ``set_zones``.
    """

    def __init__(self, zones=None):
        self.zones = []
        self.set_zones(zones or {})

    def set_zones(self, zones):
        self.zones = [
            dns.zone.from_text(f"$TTL 300\n{text}", origin=origin, relativize=False,
                               check_origin=False)
            for origin, text in zones.items()
        ]

    def patch(self):
        return patch.object(dns.resolver.Resolver, "resolve", self.resolve)

    def resolve(self, qname, rdtype=dns.rdatatype.A, *_args, **_kwargs):
        qname = dns.name.from_text(qname) if isinstance(qname, str) else qname
        rdtype = dns.rdatatype.RdataType.make(rdtype)
        zone = max((zone for zone in self.zones if qname.is_subdomain(zone.origin)),
                   key=lambda zone: len(zone.origin), default=None)
        if zone is None:
            raise dns.resolver.NoNameservers(request=dns.message.make_query(qname, rdtype),
                                             errors=[("127.0.0.1", False, 53, "REFUSED")])
        node = zone.get_node(qname)
        if node is None:
            raise dns.resolver.NXDOMAIN(qnames=[qname])
        rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
        if rdataset is None:
            raise dns.resolver.NoAnswer
        response = dns.message.make_response(dns.message.make_query(qname, rdtype))
        response.find_rrset(response.answer, qname, dns.rdataclass.IN, rdtype,
                            create=True).update(rdataset)
        return dns.resolver.Answer(qname, rdtype, dns.rdataclass.IN, response)
