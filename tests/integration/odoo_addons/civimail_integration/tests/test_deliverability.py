"""Deliverability against real servers: dnspython's own network path, the SMTP sink, the corpus.

These tests let dnspython really query (a silent socket for timeouts, the
suite's NSD otherwise) and send through the SMTP sink; the module's own tests
(civimail_addon/tests/test_deliverability.py) answer DNS from patched zones.
"""

import socket
from unittest.mock import patch

from odoo.addons.civimail_addon.engine.deliverability import dmarc
from odoo.addons.civimail_addon.models.civimail_deliverability_check import (
    IP_BLOCKLISTS_PARAM,
    NAMESERVERS_PARAM,
    TIMEOUT_PARAM,
)
from odoo.addons.civimail_addon.tests.test_deliverability import (
    GOOD_IP,
    DeliverabilityCaseMixin,
)
from odoo.tests import tagged
from odoo.tools.translate import code_translations

from .common import CivimailMailCase, corpus_dir, test_servers


@tagged("post_install", "-at_install")
class TestDeliverabilityServers(DeliverabilityCaseMixin, CivimailMailCase):
    """Checks through the real resolver, the test email through the real SMTP sink."""

    @classmethod
    def setUpClass(cls):
        servers = test_servers()
        cls.dns, cls.sink = servers.dns, servers.smtp
        cls.nameservers = f"{cls.dns.host}:{cls.dns.port}"
        cls.smtp_host, cls.smtp_port = cls.sink.host, cls.sink.port
        super().setUpClass()

    def test_phrases_in_placeholders_are_translated(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        self.params.set_param(NAMESERVERS_PARAM, f"127.0.0.1:{silent.getsockname()[1]}")
        self.params.set_param(TIMEOUT_PARAM, "0.2")
        self.Check._run_checks(self.company)
        dmarc_line = self.line("dmarc", "example.org")
        self.assertEqual(dmarc_line.message_values["problem"], "timeout")
        self.env["res.lang"]._activate_lang("fr_FR")
        message, _fix = dmarc.MESSAGES["dns"]
        french = {message: "Le DMARC de {subject} n'a pas pu être vérifié ({problem}).",
                  "timeout": "délai dépassé"}
        translations = code_translations.python_translations
        key = ("civimail_addon", "fr_FR")
        with patch.dict(translations, {key: {**code_translations.get_python_translations(
                *key), **french}}):
            self.assertEqual(dmarc_line.with_context(lang="fr_FR").message,
                             "Le DMARC de example.org n'a pas pu être vérifié (délai dépassé).")

    def test_dns_timeout_is_could_not_check(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        self.params.set_param(NAMESERVERS_PARAM, f"127.0.0.1:{silent.getsockname()[1]}")
        self.params.set_param(TIMEOUT_PARAM, "0.2")
        self.params.set_param(IP_BLOCKLISTS_PARAM, "zen.spamhaus.org")
        lines = self.Check._run_checks(self.company)
        self.assertTrue(lines)
        self.assertEqual(set(lines.mapped("status")), {"unknown"},
                         "a DNS that does not answer is never a failure")
        spf_line = self.line("spf", "example.org", GOOD_IP, self.server)
        self.assertIn("could not be checked", spf_line.message)
        self.assertIn("timeout", spf_line.message)
        labels = dict(self.Check._fields["status"]._description_selection(self.env))
        self.assertEqual(labels["unknown"], "Could not check")
        self.assertFalse(self.Check.search([]).activity_ids)

    def test_send_test_email_through_the_real_sink(self):
        self.sink.clear()
        self.sink.clear_rules()
        self.addCleanup(self.sink.clear_rules)
        wizard = self.send_test_email("ada@example.com")
        self.assertEqual(wizard.state, "accepted", wizard.result)
        received = self.sink.wait_for(1)[-1]
        self.assertEqual(received.rcpt_tos, ["ada@example.com"])
        self.assertEqual(received.message["Subject"], "CiviMail test email")

        self.sink.reject("bob@example.com", 550, "5.1.1 User unknown")
        wizard = self.send_test_email("bob@example.com")
        self.assertEqual(wizard.state, "refused")
        self.assertEqual(wizard.smtp_code, 550)
        self.assertIn("5.1.1 User unknown", wizard.smtp_text)
        self.assertIn("550", wizard.result)

    def test_header_analyzer_on_a_real_received_message(self):
        raw = (corpus_dir() / "lhost-gmail-15.eml").read_text(errors="replace")
        wizard = self.env["civimail.header.analysis"].create({"raw": raw})
        wizard.action_analyze()
        self.assertEqual(len(wizard.hop_ids), 4)
        google = wizard.hop_ids.filtered(lambda hop: hop.by_host == "mx.google.com")
        self.assertEqual(google.ip, "2607:f8b0:4002:c05::247")
        self.assertEqual(google.from_host, "mail-yw0-x247.google.com")
        self.assertEqual(google.delay_text, "1 s")
        self.assertEqual(str(google.date), "2016-03-03 22:15:33")
        verdicts = {(v.method, v.source): v for v in wizard.verdict_ids}
        self.assertEqual(verdicts[("dkim", "Authentication-Results")].result, "pass")
        self.assertEqual(verdicts[("dmarc", "Authentication-Results")].result, "pass")
        self.assertEqual(verdicts[("spf", "Received-SPF")].reporter, "google.com")
        self.assertIn("aligned SPF or DKIM", verdicts[("dmarc", "Authentication-Results")].meaning)
        self.assertIn("DMARC: pass (mx.google.com)", wizard.summary)
        self.assertNotIn("DKIM passed for", wizard.summary)
        empty = self.env["civimail.header.analysis"].create({"raw": "just text"})
        empty.action_analyze()
        self.assertFalse(empty.hop_ids or empty.verdict_ids)
        self.assertIn("No Received", empty.summary)
