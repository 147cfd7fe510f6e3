from odoo.addons.mail.tests.common import MockEmail
from odoo.tests import tagged

from .common import CivimailCase


@tagged("post_install", "-at_install")
class TestMailServerTls(CivimailCase, MockEmail):
    """The verifying TLS context CiviMail gives the host's connections (models/ir_mail_server.py).

    Servers over real TLS are tested in the integration suite (test_smtp_tls.py).
    """

    def test_host_mail_leaves_with_odoo_bin_smtp_options_and_no_server_record(self):
        self.env["ir.mail_server"].search([]).active = False
        mail = self.env["mail.mail"].create({
            "email_from": "news@example.org", "email_to": "ada@example.com",
            "subject": "Hello", "body_html": "<p>Hello</p>",
        })
        with self.mock_mail_gateway():
            mail.send()
        self.assertEqual(mail.state, "sent", mail.failure_reason)
        self.assertEqual([sent["smtp_to_list"] for sent in self.emails], [["ada@example.com"]])
