import os
from email.utils import make_msgid
from pathlib import Path
from unittest.mock import patch

from odoo.tests import common, new_test_user

# The corpus of real bounces kept in the repository (see its README).
CORPUS = Path(__file__).resolve().parents[2] / "tests" / "data" / "bounces"


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


def test_servers():
    """The real servers `make test` started for this suite (Dovecot, SMTP sink, DNS).

    The Odoo suite runs under ``harness.launcher``, which puts the repository on
    PYTHONPATH and says where the servers are in ``CIVIMAIL_TEST_SERVERS``.
    Without them the suite fails: it never skips what it cannot check.
    """
    try:
        from harness.launcher import attach  # noqa: PLC0415 - the harness exists only in tests
    except ImportError as error:
        raise AssertionError(
            "the test servers harness is not importable: run the Odoo suite with `make test` "
            f"(or `make odoo-test`), which puts the repository on PYTHONPATH ({error})"
        ) from error
    return attach()


test_servers.__test__ = False


def corpus_dir():
    """The bounce corpus; the suite fails, never skips, when it is missing."""
    corpus = Path(os.environ.get("CIVIMAIL_CORPUS") or CORPUS).resolve()
    if not (corpus / "labels.json").is_file():
        raise AssertionError(
            f"the bounce corpus is missing at {corpus}: run the suite from a clone of the "
            "repository (it holds tests/data/bounces) or set CIVIMAIL_CORPUS"
        )
    return corpus


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
    """Mail accounts on the suite's real Dovecot, with its certificate trusted."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.servers = test_servers()
        cls.dovecot = cls.servers.dovecot
        # The harness's own authority signs Dovecot's certificate: trust it the
        # way an admin trusts a private CA, through the system's trust settings.
        cls.startClassPatcher(patch.dict(os.environ, {"SSL_CERT_FILE": cls.dovecot.ca_file}))
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
        self.dovecot.reset()

    def make_account(self, **values):
        defaults = {
            "name": "Bounces",
            "usage": "bounce",
            "protocol": "imap",
            "host": self.dovecot.host,
            "security": "ssl",
            "port": self.dovecot.imaps_port,
            "username": self.dovecot.user,
            "password": self.dovecot.password,
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
        """Message files of an IMAP folder of the Dovecot user (new and cur)."""
        path = Path(self.dovecot.folder_path(folder))
        return sorted(p for sub in ("new", "cur") if (path / sub).is_dir()
                      for p in (path / sub).iterdir())
