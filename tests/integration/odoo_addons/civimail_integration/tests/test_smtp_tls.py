import os
from contextlib import contextmanager
from unittest.mock import patch

from odoo.modules import module as odoo_module
from odoo.tests import tagged

from .common import CivimailCase, test_servers


@tagged("post_install", "-at_install")
class TestSmtpTls(CivimailCase):
    """Outgoing mail checks the SMTP server's certificate, on the suite's real sink.

    The sink's certificate is signed by the run's own authority: trusted when
    the system trusts that authority (SSL_CERT_FILE), unknown otherwise, as a
    self-signed certificate is.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        servers = test_servers()
        cls.sink, cls.ca_file = servers.smtp, servers.tls.ca_file
        cls.env["ir.config_parameter"].sudo().set_param("civimail_addon.delivery_mode", "send")
        cls.env["ir.mail_server"].search([]).active = False

    def setUp(self):
        super().setUp()
        self.sink.clear()
        self.sink.clear_rules()

    def server(self, encryption, **values):
        port = self.sink.ssl_port if encryption == "ssl" else self.sink.port
        return self.env["ir.mail_server"].create({
            "name": f"Sink over {encryption}", "smtp_host": self.sink.host, "smtp_port": port,
            "smtp_encryption": encryption, **values,
        })

    @contextmanager
    def trusting(self, trusted):
        """The system trusts the run's authority, or only its usual ones."""
        with patch.dict(os.environ):
            os.environ.pop("SSL_CERT_FILE", None)
            if trusted:
                os.environ["SSL_CERT_FILE"] = self.ca_file
            # Odoo never sends during tests; lift that guard for these real sends.
            with patch.object(odoo_module, "current_test", None):
                yield

    def send_test_email(self, server, trusted):
        wizard = self.env["civimail.test.email"].create({
            "email_to": "ada@example.com", "email_from": "news@example.org",
            "mail_server_id": server.id,
        })
        with self.trusting(trusted):
            wizard.action_send()
        return wizard

    def test_starttls_and_ssl_verify_the_certificate(self):
        for encryption in ("starttls", "ssl"):
            with self.subTest(encryption=encryption):
                server = self.server(encryption)
                wizard = self.send_test_email(server, trusted=True)
                self.assertEqual(wizard.state, "accepted", wizard.result)
                self.assertEqual(self.sink.wait_for(1)[-1].rcpt_tos, ["ada@example.com"])
                self.sink.clear()
                refused = self.send_test_email(server, trusted=False)
                self.assertEqual(refused.state, "refused")
                self.assertIn("CERTIFICATE_VERIFY_FAILED", refused.result)
                self.assertFalse(self.sink.messages(), "nothing left over an unchecked channel")

    def test_accept_self_signed_certificate_per_server(self):
        for encryption in ("starttls", "ssl"):
            with self.subTest(encryption=encryption):
                server = self.server(encryption, civimail_accept_self_signed=True)
                wizard = self.send_test_email(server, trusted=False)
                self.assertEqual(wizard.state, "accepted", wizard.result)
                self.assertEqual(len(self.sink.wait_for(1)), 1)
                self.sink.clear()

    def test_mailing_connections_verify_the_certificate(self):
        """The sending job opens its sessions through the same connect()."""
        server = self.server("starttls")
        IrMailServer = self.env["ir.mail_server"]
        with self.trusting(True):
            session = IrMailServer.connect(mail_server_id=server.id)
            self.assertTrue(session.__obj__.sock.getpeercert(), "a verified certificate")
            session.quit()
        with self.trusting(False), self.assertRaisesRegex(OSError, "CERTIFICATE_VERIFY_FAILED"):
            IrMailServer.connect(mail_server_id=server.id)
