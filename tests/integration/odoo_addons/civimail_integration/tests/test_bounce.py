"""Bounce processing against real servers: IMAP over TLS (Dovecot) and the real corpus."""

import json

from odoo.addons.civimail_addon.engine.bounce import analyze
from odoo.addons.civimail_addon.tests.test_bounce import SIGNALS_OF_TYPE, BounceCaseMixin
from odoo.tests import tagged

from .common import CivimailMailCase, corpus_dir, make_dsn


@tagged("post_install", "-at_install")
class TestBounceProcessingServers(BounceCaseMixin, CivimailMailCase):
    """Fetch Bounces over IMAPS, and every seeded type reached by a real bounce."""

    def test_every_seeded_type_from_real_bounces(self):
        """Real bounces of the corpus, returned to a trace's VERP address, end to end."""
        corpus = corpus_dir()
        labels = json.loads((corpus / "labels.json").read_text())
        reached = set()
        for name, label in sorted(labels.items()):
            expected = {entry["type"] for entry in label.get("expect", [])}
            if len(expected) != 1 or expected <= reached:
                continue
            raw = (corpus / name).read_bytes()
            report = analyze(raw)
            if len(report.bounces) != 1 or report.bounces[0].type not in expected:
                continue
            found = report.bounces[0]
            partner = self.env["res.partner"].create({"name": name, "email": found.email
                                                      or f"{name}@example.com"})
            trace = self.make_trace(partner)
            verp = self.account._verp_codec().build(trace.id, trace.email)
            # The receiving MTA records the envelope recipient, as Postfix and Dovecot do.
            self.process(f"Delivered-To: {verp}\r\n".encode() + raw)
            bounce = self.Bounce.search([("trace_id", "=", trace.id)])
            self.assertEqual(bounce.type_id.code, found.type, name)
            reached.add(found.type)
        # Challenge-response requests are no bounces: test_challenge_response_... below.
        missing = set(self.types) - reached - {"loop", "unknown", "challenge"}
        self.assertFalse(missing, f"types no real bounce reached: {missing}")

    def test_job_log_counts_per_type(self):
        account = self.make_account(name="IMAP bounces")
        for code in ("invalid", "quota"):
            partner = self.env["res.partner"].create({"name": code, "email": f"{code}@ex.com"})
            trace = self.make_trace(partner)
            status, diagnostic = SIGNALS_OF_TYPE[code]
            self.dovecot.deliver(make_dsn(account._verp_codec().build(trace.id, trace.email),
                                          trace.email, status=status, diagnostic=diagnostic))
        log = self.env["civimail.job.log"]._run_job("fetch_bounces", records=account)
        self.assertEqual(log.processed_count, 2)
        self.assertIn("Invalid 1", log.message)
        self.assertIn("Quota 1", log.message)

    def test_slow_pattern_is_named_on_the_pattern_and_in_the_job_log(self):
        slow = self.env["civimail.bounce.pattern"].create({
            "type_id": self.types["spam"].id, "sequence": -1, "pattern": r"(a|aa)+$"})
        account = self.make_account(name="IMAP bounces")
        trace = self.make_trace(self.partner)
        self.dovecot.deliver(make_dsn(account._verp_codec().build(trace.id, trace.email),
                                      trace.email, status="5.0.0",
                                      diagnostic="smtp; 550 " + "a" * 40 + "b"))
        log = self.env["civimail.job.log"]._run_job("fetch_bounces", records=account)
        self.assertEqual(log.processed_count, 1, "the message is still processed")
        self.assertTrue(slow.slow_date)
        self.assertIn(r"(a|aa)+$", log.message)
