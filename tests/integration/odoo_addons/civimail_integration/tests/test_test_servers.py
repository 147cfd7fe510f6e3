from unittest.mock import patch

from odoo.modules import module as odoo_module
from odoo.tests import TransactionCase, tagged

from .common import test_servers


@tagged("post_install", "-at_install")
class TestTestServers(TransactionCase):
    """The suite's real servers are reachable from the Odoo process."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.servers = test_servers()

    def test_host_outgoing_server_delivers_to_the_smtp_sink(self):
        sink = self.servers.smtp
        sink.clear()
        server = self.env["ir.mail_server"].create({
            "name": "Test sink", "smtp_host": sink.host, "smtp_port": sink.port,
            "smtp_encryption": "none",
        })
        IrMailServer = self.env["ir.mail_server"]
        message = IrMailServer.build_email(
            "Newsletter <news@example.org>", ["ada@example.com", "alan@example.com"],
            "Hello", "Body", headers={"Return-Path": "return+b.42.0123abcd@example.org"},
        )
        # Odoo never sends during tests; lift that guard for this one real send.
        with patch.object(odoo_module, "current_test", None):
            IrMailServer.send_email(message, mail_server_id=server.id)
        received = sink.wait_for(1)[-1]
        self.assertEqual(received.mail_from, "return+b.42.0123abcd@example.org")
        self.assertEqual(sorted(received.rcpt_tos), ["ada@example.com", "alan@example.com"])
        self.assertEqual(received.message["Subject"], "Hello")

    def test_dns_zones_set_from_odoo_are_served(self):
        dns_server = self.servers.dns
        dns_server.set_zones({"example.org": "@ IN TXT \"v=spf1 ip4:192.0.2.10 -all\"\n"})
        try:
            answer = dns_server.resolver().resolve("example.org", "TXT")
            self.assertEqual(answer[0].strings, (b"v=spf1 ip4:192.0.2.10 -all",))
        finally:
            dns_server.set_zones({})
