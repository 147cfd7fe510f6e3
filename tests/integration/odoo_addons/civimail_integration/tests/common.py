"""What the integration tests share: the real servers `make test` started, the corpus.

These classes need what a partner's CI does not have (Dovecot, the SMTP sink,
NSD, the repository's bounce corpus), which is why they live in this test-only
addon and not in civimail_addon/tests: see this addon's README.
"""

import os
from pathlib import Path
from unittest.mock import patch

from odoo.addons.civimail_addon.tests.common import CivimailCase, make_dsn
from odoo.addons.civimail_addon.tests.common import CivimailMailCase as ModuleMailCase

# The corpus of real bounces kept in the repository (see its README).
CORPUS = Path(__file__).resolve().parents[5] / "tests" / "data" / "bounces"

__all__ = ["CORPUS", "CivimailCase", "CivimailMailCase", "corpus_dir", "make_dsn", "test_servers"]


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


class CivimailMailCase(ModuleMailCase):
    """The module's mail case, its accounts reading the suite's real Dovecot over IMAPS."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.servers = test_servers()
        cls.dovecot = cls.servers.dovecot
        # The harness's own authority signs Dovecot's certificate: trust it the
        # way an admin trusts a private CA, through the system's trust settings.
        cls.startClassPatcher(patch.dict(os.environ, {"SSL_CERT_FILE": cls.dovecot.ca_file}))

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

    def folder_files(self, folder="INBOX"):
        """Message files of an IMAP folder of the Dovecot user (new and cur)."""
        path = Path(self.dovecot.folder_path(folder))
        return sorted(p for sub in ("new", "cur") if (path / sub).is_dir()
                      for p in (path / sub).iterdir())
