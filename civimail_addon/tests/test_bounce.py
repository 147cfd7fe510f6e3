from datetime import timedelta
from unittest.mock import patch

from odoo import fields, tools
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..engine.mailbox import IGNORED, PROCESSED
from ..models.stored_messages import render
from .common import DATA, CivimailMailCase, make_dsn

# A DSN status (RFC 3463) and diagnostic for each type, as mail servers word them.
SIGNALS_OF_TYPE = {
    "invalid": ("5.1.1", "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"),
    "inactive": ("5.2.1", "smtp; 550 5.2.1 The email account that you tried to reach is "
                          "disabled"),
    "dns": ("5.1.2", "smtp; 550 5.1.2 Host or domain name not found"),
    "host": ("4.4.1", "smtp; 421 4.4.1 Connection timed out"),
    "relay": ("5.7.1", "smtp; 554 5.7.1 <{rcpt}>: Relay access denied"),
    "quota": ("5.2.2", "smtp; 552 5.2.2 Mailbox full"),
    "spam": ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam by Content Filtering"),
    "syntax": ("5.5.2", "smtp; 500 5.5.2 Syntax error, command unrecognized"),
    "loop": ("5.4.6", "smtp; 554 5.4.6 Too many hops: mail loop detected"),
}


class BounceCaseMixin:
    """A bounce account, a contact and helpers; shared with the integration suite."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.account = cls.env["civimail.mail.account"].create({
            "name": "Bounces", "usage": "bounce", "protocol": "maildir", "path": "/nonexistent",
            "local_part": "return+", "email_domain": "example.org",
        })
        cls.partner = cls.env["res.partner"].create({"name": "Ada", "email": "Ada@Example.com"})
        cls.Bounce = cls.env["civimail.bounce"]
        cls.types = cls.env["civimail.bounce.type"]._by_code()

    def process(self, raw):
        """(outcome, result code, reason in words) of one message."""
        outcome, label, reason = self.Bounce._process_bounce_messages(
            self.account, {"uid": raw})["uid"]
        return outcome, label, render(self.env, reason)

    def bounce_of(self, trace, **kwargs):
        verp = self.account._verp_codec().build(trace.id, trace.email)
        return make_dsn(verp, trace.email, **kwargs)


@tagged("post_install", "-at_install")
class TestBounceProcessing(BounceCaseMixin, CivimailMailCase):
    """Bounces of our mailings are tied to their trace by a signed VERP address."""

    # -- VERP -------------------------------------------------------------------------
    def test_verp_bounce_marks_the_trace(self):
        trace = self.make_trace(self.partner)
        outcome, label, _reason = self.process(self.bounce_of(trace))
        self.assertEqual((outcome, label), (PROCESSED, "invalid"))
        bounce = self.Bounce.search([("trace_id", "=", trace.id)])
        self.assertEqual(bounce.email, "ada@example.com")
        self.assertEqual(bounce.partner_ids, self.partner)
        self.assertEqual(bounce.mailing_id, self.mailing)
        self.assertEqual(bounce.status, "5.1.1")
        self.assertTrue(bounce.hard)
        self.assertEqual(trace.trace_status, "bounce")
        self.assertEqual(self.partner.message_bounce, 1, "the host's counter moves too")

    def test_an_override_of_the_host_bounce_hook_sees_each_bounce(self):
        """A module overriding ``_message_receive_bounce`` hears of CiviMail's bounces,
        as of the host's: once per bounce, on the contacts with the bounced email."""
        namesake = self.env["res.partner"].create(
            {"name": "Ada (work)", "email": "ada@example.com"})
        Partner = self.env.registry["res.partner"]
        host_hook = Partner._message_receive_bounce
        heard = []

        def receive_bounce(records, email, partner):
            heard.append((records, email, partner))
            return host_hook(records, email, partner)

        first, second = self.make_trace(self.partner), self.make_trace(self.partner)
        with patch.object(Partner, "_message_receive_bounce", receive_bounce):
            self.Bounce._process_bounce_messages(self.account, {
                "a": self.bounce_of(first, message_id="<a@mx.example.net>"),
                "b": self.bounce_of(second, message_id="<b@mx.example.net>"),
            })
        contacts = self.partner | namesake
        self.assertEqual(len(heard), 2, "one call per bounce")
        for records, email, partner in heard:
            self.assertEqual((records, email, partner), (contacts, "ada@example.com", contacts))
        self.assertEqual(contacts.mapped("message_bounce"), [2, 2])

    def test_forged_or_unknown_verp_changes_nothing(self):
        trace = self.make_trace(self.partner)
        codec = self.account._verp_codec()
        genuine = codec.build(trace.id, trace.email)
        forged = genuine.replace(genuine.split(".")[-2][:4], "0000")
        cases = {
            "bad signature": forged,
            "does not exist": codec.build(trace.id + 10_000, trace.email),
            "another recipient": codec.build(trace.id, "mallory@example.com"),
        }
        for name, address in cases.items():
            with self.subTest(name):
                outcome, _label, reason = self.process(make_dsn(address, trace.email))
                self.assertEqual(outcome, "ignored")
                self.assertTrue(reason)
        self.assertFalse(self.Bounce.search([("email", "=", "ada@example.com")]))
        self.assertEqual(trace.trace_status, "sent")

    def test_trace_of_another_company_is_refused(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        user = self.env["res.users"].create({
            "name": "Other", "login": "other_mailer", "company_id": other.id,
            "company_ids": [fields.Command.set(other.ids)],
        })
        mailing = self.mailing.copy({"user_id": user.id})
        trace = self.make_trace(self.partner, mailing)
        outcome, _label, reason = self.process(self.bounce_of(trace))
        self.assertEqual(outcome, "ignored")
        self.assertIn("Other Co", reason)

    def test_secret_rotation_keeps_a_grace_period(self):
        trace = self.make_trace(self.partner)
        signed_before = self.bounce_of(trace)
        self.account._rotate_verp_secret()
        self.assertEqual(self.process(signed_before)[0], PROCESSED, "accepted during grace")

        trace2 = self.make_trace(self.partner)
        verp = self.account._verp_codec().build(trace2.id, trace2.email)
        self.account._rotate_verp_secret()
        parameters = self.env["ir.config_parameter"].sudo()
        parameters.set_param(
            "civimail_addon.verp_secret_rotated_on",
            fields.Datetime.to_string(fields.Datetime.now() - timedelta(days=31)),
        )
        outcome = self.process(make_dsn(verp, trace2.email, message_id="<late@x>"))[0]
        self.assertEqual(outcome, "ignored", "two rotations ago, past the grace period")

    def test_non_bounce_and_mail_without_verp_are_ignored(self):
        outcome, label, _reason = self.process(
            b"From: a@example.net\r\nSubject: Hi\r\n\r\nHello\r\n")
        self.assertEqual((outcome, label), ("ignored", "not_bounce"))
        outcome, _label, reason = self.process(
            make_dsn("someone@example.org", "ada@example.com"))
        self.assertEqual(outcome, "ignored")
        self.assertIn("VERP", reason)

    # -- types, thresholds, hold -------------------------------------------------------------
    def test_each_status_reaches_its_type(self):
        for code, (status, diagnostic) in SIGNALS_OF_TYPE.items():
            with self.subTest(code):
                partner = self.env["res.partner"].create(
                    {"name": code, "email": f"{code}@example.com"})
                trace = self.make_trace(partner)
                self.process(self.bounce_of(trace, status=status, diagnostic=diagnostic))
                bounce = self.Bounce.search([("trace_id", "=", trace.id)])
                self.assertEqual(bounce.type_id.code, code)

    def test_threshold_puts_the_email_on_hold_and_release_resets(self):
        twin = self.env["res.partner"].create({"name": "Ada (work)", "email": "ada@example.com"})
        quota = self.types["quota"]
        self.assertEqual(quota.hold_threshold, 3)
        for attempt in range(3):
            self.assertFalse(self.partner.email_on_hold, f"not on hold after {attempt}")
            trace = self.make_trace(self.partner)
            self.process(self.bounce_of(trace, status="5.2.2", diagnostic="smtp; mailbox full",
                                        message_id=f"<full-{attempt}@x>"))
        self.assertTrue(self.partner.email_on_hold)
        self.assertTrue(twin.email_on_hold, "every contact with the email is held")
        self.assertIn("Quota", self.partner.email_hold_reason)
        self.assertIn("put on hold", self.partner.message_ids[0].body)
        self.assertEqual(self.Bounce._emails_on_hold({"ada@example.com", "x@y.z"}),
                         {"ada@example.com"})

        with self.assertRaises(AccessError):
            self.partner.with_user(self.user_civimail).action_civimail_release_hold()
        self.partner.with_user(self.user_manager).action_civimail_release_hold()
        self.assertFalse(self.partner.email_on_hold or twin.email_on_hold)
        self.assertFalse(self.Bounce._emails_on_hold({"ada@example.com"}))
        self.assertEqual(self.partner.message_bounce, 0)
        trace = self.make_trace(self.partner)
        self.process(self.bounce_of(trace, status="5.2.2", diagnostic="smtp; mailbox full",
                                    message_id="<full-after@x>"))
        self.assertFalse(self.partner.email_on_hold, "the count restarts after a release")

    def test_hard_bounce_holds_at_once(self):
        self.process(self.bounce_of(self.make_trace(self.partner)))
        self.assertTrue(self.partner.email_on_hold)

    def test_complaint_blocklists_the_address(self):
        trace = self.make_trace(self.partner)
        verp = self.account._verp_codec().build(trace.id, trace.email)
        report = (
            f"From: feedback@fbl.example.net\r\nTo: {verp}\r\nSubject: complaint\r\n"
            "Message-ID: <fbl-1@fbl.example.net>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
            "--b\r\nContent-Type: message/feedback-report\r\n\r\n"
            f"Feedback-Type: abuse\r\nUser-Agent: fbl/1.0\r\nVersion: 1\r\n"
            f"Original-Rcpt-To: {trace.email}\r\n"
            "--b--\r\n"
        ).encode()
        outcome, label, _reason = self.process(report)
        self.assertEqual((outcome, label), (PROCESSED, "complaint"))
        self.assertTrue(self.env["mail.blacklist"].search([("email", "=", "ada@example.com")]))
        self.assertTrue(self.partner.email_on_hold)

    def complaint_of(self, trace, message_id="<fbl-1@fbl.example.net>"):
        verp = self.account._verp_codec().build(trace.id, trace.email)
        return (
            f"From: feedback@fbl.example.net\r\nTo: {verp}\r\nSubject: complaint\r\n"
            f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
            "--b\r\nContent-Type: message/feedback-report\r\n\r\n"
            f"Feedback-Type: abuse\r\nUser-Agent: fbl/1.0\r\nVersion: 1\r\n"
            f"Original-Rcpt-To: {trace.email}\r\n"
            "--b--\r\n"
        ).encode()

    # -- replays ----------------------------------------------------------------------------
    def test_report_sent_again_under_new_message_ids_counts_once(self):
        """A copy of a genuine bounce, re-sent under new Message-IDs, holds nobody."""
        quota = self.types["quota"]
        self.assertEqual(quota.hold_threshold, 3)
        trace = self.make_trace(self.partner)
        status, diagnostic = SIGNALS_OF_TYPE["quota"]
        outcomes = [
            self.process(self.bounce_of(trace, status=status, diagnostic=diagnostic,
                                        message_id=f"<replay-{copy}@mx.example.net>"))
            for copy in range(6)
        ]
        self.assertEqual(outcomes[0][:2], (PROCESSED, "quota"))
        for outcome, label, reason in outcomes[1:]:
            self.assertEqual((outcome, label), (IGNORED, "already_processed"))
            self.assertIn(f"trace {trace.id}", reason)
        self.assertEqual(self.Bounce.search_count([("trace_id", "=", trace.id)]), 1)
        self.assertFalse(self.partner.email_on_hold, "one bounce of a threshold of 3")
        self.assertEqual(self.partner.message_bounce, 1)

    def test_same_report_twice_in_one_batch_counts_once(self):
        trace = self.make_trace(self.partner)
        results = self.Bounce._process_bounce_messages(self.account, {
            "a": self.bounce_of(trace, message_id="<a@mx.example.net>"),
            "b": self.bounce_of(trace, message_id="<b@mx.example.net>"),
        })
        self.assertEqual(sorted(label for _outcome, label, _reason in results.values()),
                         ["already_processed", "invalid"])
        self.assertEqual(self.Bounce.search_count([("trace_id", "=", trace.id)]), 1)

    def test_a_complaint_and_a_bounce_of_one_trace_both_count(self):
        trace = self.make_trace(self.partner)
        self.process(self.bounce_of(trace, status="4.4.1",
                                    diagnostic=SIGNALS_OF_TYPE["host"][1]))
        outcome, label, _reason = self.process(self.complaint_of(trace))
        self.assertEqual((outcome, label), (PROCESSED, "complaint"))
        replayed = self.process(self.complaint_of(trace, message_id="<fbl-2@fbl.example.net>"))
        self.assertEqual(replayed[:2], (IGNORED, "already_processed"))
        bounces = self.Bounce.search([("trace_id", "=", trace.id)])
        self.assertEqual(sorted(bounces.mapped("kind")), ["bounce", "complaint"])

    def test_copies_counted_by_an_earlier_version_leave_their_trace(self):
        """Upgrading a database where a replay counted twice keeps both, the trace one."""
        trace = self.make_trace(self.partner)
        self.process(self.bounce_of(trace))
        index = "civimail_bounce_one_per_trace_and_kind"
        self.env.cr.execute(f"DROP INDEX {index}")  # as before this version
        counted = self.Bounce.search([("trace_id", "=", trace.id)])
        replay = counted.copy({"message_id": "<replay@mx.example.net>"})
        with self.assertLogs("odoo.addons.civimail_addon.models.civimail_bounce", "WARNING"):
            self.Bounce.init()
        self.assertTrue(tools.index_exists(self.env.cr, index))
        self.Bounce.invalidate_model()
        self.assertEqual(self.Bounce.search([("trace_id", "=", trace.id)]), counted)
        self.assertEqual(replay.email, counted.email, "the copy stays, as it counted")

    def test_blocked_never_holds_and_tells_managers_once_a_day(self):
        for attempt in range(2):
            trace = self.make_trace(self.partner)
            self.process(self.bounce_of(
                trace, status="5.7.1", message_id=f"<blocked-{attempt}@x>",
                diagnostic="smtp; 550 5.7.1 Service unavailable; Client host [192.0.2.1] "
                           "blocked using zen.spamhaus.org"))
            self.assertEqual(self.Bounce.search([("trace_id", "=", trace.id)]).type_id.code,
                             "blocked")
        self.assertFalse(self.partner.email_on_hold)
        activities = self.account.activity_ids
        managers = self.env.ref("civimail_addon.group_civimail_manager").users.filtered(
            lambda u: not u.share and not u._is_superuser())
        self.assertEqual(activities.user_id, managers)
        self.assertEqual(len(activities), len(managers), "one per manager, not one per bounce")

    def test_challenge_response_is_shown_never_counted_nor_held(self):
        trace = self.make_trace(self.partner)
        verp = self.account._verp_codec().build(trace.id, trace.email)
        raw = (f"From: Ada <ada-confirm+1715.4711.f0e1@example.com>\r\nTo: {verp}\r\n"
               "Subject: Please confirm your message\r\nMessage-ID: <c1@example.com>\r\n\r\n"
               "To control spam, I now allow incoming messages only from senders I have "
               "approved beforehand. If you would like to be added to my list of approved "
               "senders, please reply to this message.\r\n").encode()
        outcome, label, _reason = self.process(raw)
        self.assertEqual((outcome, label), (PROCESSED, "challenge"))
        bounce = self.Bounce.search([("trace_id", "=", trace.id)])
        self.assertEqual((bounce.type_id.code, bounce.hard, bounce.email),
                         ("challenge", False, "ada@example.com"))
        self.assertNotEqual(trace.trace_status, "bounce")
        self.assertFalse(self.partner.message_bounce)
        self.assertFalse(self.partner.email_on_hold)

    def test_out_of_office_is_an_away_bounce_of_a_delivered_message(self):
        trace = self.make_trace(self.partner)
        verp = self.account._verp_codec().build(trace.id, trace.email)
        raw = (f"From: Ada <ada@example.com>\r\nTo: {verp}\r\n"
               "Subject: Out of office: Autumn newsletter\r\nAuto-Submitted: auto-replied\r\n"
               "Message-ID: <ooo1@example.com>\r\n\r\n"
               "I am away until Monday and will read your message then.\r\n").encode()
        outcome, label, _reason = self.process(raw)
        self.assertEqual((outcome, label), (PROCESSED, "away"))
        bounce = self.Bounce.search([("trace_id", "=", trace.id)])
        self.assertEqual(bounce.type_id.code, "away", "counted toward the Away threshold")
        # The reader got the message: the mailing counts it delivered, not bounced.
        self.assertEqual(trace.trace_status, "sent")
        self.assertFalse(self.partner.message_bounce)
        self.assertFalse(self.partner.email_on_hold)

    def test_message_over_its_time_budget_is_set_aside(self):
        trace = self.make_trace(self.partner)
        with patch.object(type(self.Bounce), "_analysis_seconds", lambda _self: 0):
            outcome, label, reason = self.process(self.bounce_of(trace))
        self.assertEqual((outcome, label), (IGNORED, "set_aside"))
        self.assertIn("stopped", reason)
        self.assertFalse(self.Bounce.search([("trace_id", "=", trace.id)]))

    # -- patterns -------------------------------------------------------------------------
    def test_patterns_are_seeded_and_validated(self):
        Pattern = self.env["civimail.bounce.pattern"]
        self.assertGreater(Pattern.search_count([]), 20)
        with self.assertRaises(ValidationError):
            Pattern.create({"type_id": self.types["spam"].id, "pattern": "(unclosed"})

    def test_edited_pattern_changes_the_classification(self):
        Pattern = self.env["civimail.bounce.pattern"]
        Pattern.create({"type_id": self.types["away"].id, "sequence": -1,
                        "pattern": r"gone fishing"})
        trace = self.make_trace(self.partner)
        self.process(self.bounce_of(trace, status="5.0.0", diagnostic="smtp; 550 gone fishing"))
        self.assertEqual(self.Bounce.search([("trace_id", "=", trace.id)]).type_id.code, "away")

    def test_users_read_bounces_but_do_not_change_them(self):
        self.process(self.bounce_of(self.make_trace(self.partner)))
        bounce = self.Bounce.search([], limit=1)
        self.assertTrue(bounce.with_user(self.user_civimail).email)
        with self.assertRaises(AccessError):
            bounce.with_user(self.user_civimail).unlink()
        with self.assertRaises(AccessError):
            self.Bounce.with_user(self.user_internal).search([])

    def test_a_manager_puts_an_email_on_hold_by_hand(self):
        """As in CiviCRM, an email can be held by hand; mailings then skip it."""
        with self.assertRaises(AccessError):
            self.partner.with_user(self.user_civimail).action_civimail_put_on_hold()
        self.partner.with_user(self.user_manager).action_civimail_put_on_hold()
        self.assertTrue(self.partner.email_on_hold)
        self.assertEqual(self.partner.with_context(lang="en_US").email_hold_reason,
                         f"put on hold by {self.user_manager.name}")
        self.assertIn(f"put on hold by {self.user_manager.name}.", self.partner.message_ids[0].body)
        self.assertEqual(self.Bounce._emails_on_hold({"ada@example.com", "x@y.z"}),
                         {"ada@example.com"}, "mailings skip it though it never bounced")
        self.partner.with_user(self.user_manager).action_civimail_release_hold()
        self.assertFalse(self.Bounce._emails_on_hold({"ada@example.com"}))

    # -- the job, on a local Maildir ------------------------------------------------------
    def stored(self, name, return_path, recipient):
        raw = (DATA / name).read_bytes()
        return raw.replace(b"RETURN_PATH", return_path.encode()).replace(
            b"RECIPIENT", recipient.encode())

    def test_fetch_bounces_reads_a_maildir_and_sets_each_message_aside_by_outcome(self):
        account = self.make_account(name="Maildir bounces")
        trace = self.make_trace(self.partner)
        verp = account._verp_codec().build(trace.id, trace.email)
        self.deliver(self.stored("dsn_mailbox_full.eml", verp, trace.email))
        self.deliver(self.stored("reply_from_reader.eml", "return@example.org", trace.email))
        self.deliver((DATA / "garbage.eml").read_bytes())
        log = self.env["civimail.job.log"]._run_job("fetch_bounces", records=account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(log.processed_count, 1)
        self.assertIn("Quota 1", log.message)
        bounce = self.Bounce.search([("trace_id", "=", trace.id)])
        self.assertEqual((bounce.type_id.code, bounce.status, bounce.hard),
                         ("quota", "5.2.2", False))
        self.assertEqual(trace.trace_status, "bounce")
        self.assertFalse(self.partner.email_on_hold, "a full mailbox holds after three")
        self.assertEqual(self.folder_files("INBOX"), [], "nothing is left in the inbox")
        self.assertEqual(len(self.folder_files("INBOX.processed")), 1)
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 2,
                         "the batch went on past garbage")
        outcomes = account.processed_message_ids.mapped("outcome")
        self.assertEqual(sorted(outcomes), ["ignored", "ignored", "processed"])
        # Read again: the messages were moved, nothing is counted twice.
        log = self.env["civimail.job.log"]._run_job("fetch_bounces", records=account)
        self.assertEqual(log.processed_count, 0)
        self.assertEqual(len(self.Bounce.search([("trace_id", "=", trace.id)])), 1)
