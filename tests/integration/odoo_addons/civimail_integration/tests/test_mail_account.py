import base64
import os
import shutil
import tempfile
from pathlib import Path
from unittest.mock import patch

from odoo.addons.civimail_addon.engine.mailbox import MailboxError
from odoo.addons.civimail_addon.engine.mailbox.imap import ImapMailbox
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import CivimailMailCase, make_dsn


@tagged("post_install", "-at_install")
class TestMailAccount(CivimailMailCase):
    """Mail accounts read real mailboxes safely: nothing lost, nothing twice."""

    def fetch(self, account):
        log = self.env["civimail.job.log"]._run_job("fetch_bounces", records=account,
                                                    origin="button")
        account.invalidate_recordset()
        return log

    def deliver_bounce(self, account, email="ada@example.com", folder="INBOX", **kwargs):
        partner = self.env["res.partner"].create({"name": email, "email": email})
        trace = self.make_trace(partner)
        verp = account._verp_codec().build(trace.id, trace.email)
        self.dovecot.deliver(make_dsn(verp, email, **kwargs), folder)
        return trace

    # -- configuration ---------------------------------------------------------------
    def test_exactly_one_default_bounce_account_per_company(self):
        first = self.make_account(name="First")
        second = self.make_account(name="Second")
        self.assertTrue(first.is_default)
        self.assertFalse(second.is_default)
        second.is_default = True
        self.assertEqual((first | second).filtered("is_default"), second)
        second.active = False
        self.assertTrue(first.is_default, "archiving the default hands it to another account")
        activity = self.make_account(name="Filing", usage="activity", is_default=True)
        self.assertFalse(activity.is_default, "only bounce accounts can be the default")

    def test_port_follows_protocol_and_security(self):
        account = self.env["civimail.mail.account"].new({"protocol": "pop3", "security": "ssl"})
        self.assertEqual(account.port, 995)
        account.security = "starttls"
        self.assertEqual(account.port, 110)

    def test_bounce_account_needs_its_return_address(self):
        with self.assertRaises(ValidationError):
            self.make_account(local_part=False)
        with self.assertRaises(ValidationError):
            self.make_account(email_domain="return@example.org")

    def test_password_is_for_managers_only(self):
        account = self.make_account()
        as_user = account.with_user(self.user_civimail)
        self.assertEqual(as_user.name, "Bounces", "users see the account")
        with self.assertRaises(AccessError):
            as_user.read(["password"])
        with self.assertRaises(AccessError):
            as_user.write({"name": "Mine"})
        self.assertEqual(account.with_user(self.user_manager).password, self.dovecot.password)

    # -- test connection -----------------------------------------------------------------
    def test_test_connection_reports_the_messages(self):
        account = self.make_account(folder="INBOX.CiviMail")
        self.dovecot.deliver(b"Subject: one\r\n\r\nbody\r\n", "INBOX.CiviMail")
        self.dovecot.deliver(b"Subject: two\r\n\r\nbody\r\n", "INBOX.CiviMail")
        result = account.action_test_connection()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertIn("2 messages", result["params"]["message"])
        # Kept on the account, step by step, worded when read.
        self.assertEqual(account.last_test_status, "ok")
        self.assertIn(f"✓ logged in as {self.dovecot.user}\n", account.last_test_message)
        self.assertTrue(account.last_test_message.endswith(
            "2 messages waiting in INBOX.CiviMail."), account.last_test_message)
        # Written with the other usual separator, the folder is found all the same.
        account.folder = "INBOX/CiviMail"
        self.assertEqual(account.action_test_connection()["params"]["type"], "success")

    def test_test_connection_says_which_step_failed(self):
        account = self.make_account(password="wrong-password")
        result = account.action_test_connection()
        self.assertEqual(result["params"]["type"], "danger")
        self.assertIn("authentication", result["params"]["message"].lower())
        self.assertNotIn("wrong-password", result["params"]["message"])

        account.write({"password": self.dovecot.password, "folder": "INBOX.Missing"})
        message = account.action_test_connection()["params"]["message"]
        self.assertIn("folder", message.lower())

    def test_untrusted_certificate_is_refused_unless_accepted(self):
        account = self.make_account()
        with self.env.cr.savepoint():
            # Without the harness's authority the certificate is self-signed to us.
            trusted = os.environ.pop("SSL_CERT_FILE")
            try:
                refused = account.action_test_connection()["params"]
                account.accept_self_signed = True
                accepted = account.action_test_connection()["params"]
            finally:
                os.environ["SSL_CERT_FILE"] = trusted
        self.assertEqual(refused["type"], "danger")
        self.assertIn("certificate", refused["message"].lower())
        self.assertEqual(accepted["type"], "success", accepted["message"])

    # -- fetching ------------------------------------------------------------------------
    def test_fetch_moves_each_message_after_processing(self):
        account = self.make_account()
        trace = self.deliver_bounce(account)
        self.dovecot.deliver(b"From: someone@example.net\r\nSubject: Hello\r\n"
                             b"Message-ID: <hello@example.net>\r\n\r\nJust saying hello.\r\n")
        log = self.fetch(account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(log.processed_count, 1)
        self.assertEqual(trace.trace_status, "bounce")
        self.assertEqual(self.folder_files("INBOX"), [])
        self.assertEqual(len(self.folder_files("INBOX.processed")), 1)
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 1)
        ignored = account.processed_message_ids.filtered(lambda m: m.outcome == "ignored")
        self.assertEqual(ignored.message_id, "<hello@example.net>")
        self.assertEqual(account.last_run_status, "ok")
        self.assertEqual(account.last_run_count, 2)

    def test_every_protocol_reads_and_marks(self):
        cases = {
            "IMAP STARTTLS": {"security": "starttls", "port": self.dovecot.imap_port},
            "POP3S": {"protocol": "pop3", "port": self.dovecot.pop3s_port},
            "POP3 STARTTLS": {"protocol": "pop3", "security": "starttls",
                              "port": self.dovecot.pop3_port},
            "Maildir": {"protocol": "maildir", "path": str(self.dovecot.folder_path("INBOX"))},
        }
        for name, values in cases.items():
            with self.subTest(name):
                self.dovecot.reset_mailbox()
                account = self.make_account(name=name, **values)
                trace = self.deliver_bounce(account, email=f"{name.split()[0].lower()}@example.com")
                log = self.fetch(account)
                self.assertEqual(log.status, "ok", log.message)
                self.assertEqual(trace.trace_status, "bounce")
                self.assertEqual(self.folder_files("INBOX"), [], "the mailbox is emptied")

    def test_directory_account(self):
        folder = Path(tempfile.mkdtemp(prefix="civimail-directory-"))
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        account = self.make_account(protocol="directory", path=str(folder))
        partner = self.env["res.partner"].create({"name": "Dir", "email": "dir@example.com"})
        trace = self.make_trace(partner)
        (folder / "bounce.eml").write_bytes(
            make_dsn(account._verp_codec().build(trace.id, trace.email), trace.email)
        )
        log = self.fetch(account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(trace.trace_status, "bounce")
        self.assertEqual([p.name for p in (folder / "processed").iterdir()], ["bounce.eml"])
        self.assertFalse((folder / "bounce.eml").exists())

    def test_too_large_message_is_set_aside(self):
        account = self.make_account(max_message_size=1)
        big = b"Subject: big\r\nMessage-ID: <big@example.net>\r\n\r\n" + b"x" * (1024 * 1024 + 10)
        self.dovecot.deliver(big)
        trace = self.deliver_bounce(account)
        log = self.fetch(account)
        self.assertEqual(log.status, "warning", "a message set aside is worth a look")
        self.assertEqual(trace.trace_status, "bounce", "the rest of the batch is processed")
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 1)
        ignored = account.processed_message_ids.filtered(lambda m: m.outcome == "ignored")
        self.assertIn("MB", ignored.reason)

    def test_unparseable_message_does_not_stop_the_batch(self):
        account = self.make_account()
        self.dovecot.deliver(b"\x00\xff\xfe garbage without headers \x00" * 50)
        trace = self.deliver_bounce(account)
        self.fetch(account)
        self.assertEqual(trace.trace_status, "bounce")
        self.assertEqual(len(self.folder_files("INBOX.ignored")), 1)
        self.assertEqual(self.folder_files("INBOX"), [])

    def test_wrong_password_and_stopped_server_are_logged_not_raised(self):
        broken = self.make_account(name="Broken", password="nope")
        working = self.make_account(name="Working", protocol="maildir",
                                    path=str(self.dovecot.folder_path("INBOX")))
        trace = self.deliver_bounce(working)
        log = self.env["civimail.job.log"]._run_job("fetch_bounces", records=broken | working)
        self.assertEqual(log.status, "warning")
        self.assertIn("Broken", log.message)
        self.assertNotIn("nope", log.message)
        self.assertEqual(trace.trace_status, "bounce", "the other accounts are still read")
        self.assertEqual(broken.last_run_status, "error")
        self.assertIn("authentication", broken.last_error.lower())

        self.dovecot.stop()
        try:
            broken.password = self.dovecot.password
            self.fetch(broken)
        finally:
            self.dovecot.start()
        self.assertEqual(broken.last_run_status, "error")
        self.assertIn(str(self.dovecot.imaps_port), broken.last_error)

    def test_interrupted_run_has_no_second_effect(self):
        """A crash after the commit but before the move: the message stays, counts once."""
        account = self.make_account()
        trace = self.deliver_bounce(account)

        def lose_connection(*_args, **_kwargs):
            raise MailboxError("tcp", "tcp_lost", {"where": "imap", "doing": "moving messages",
                                                   "reason": "connection reset"})

        # The fault is injected where it matters: after the commit, before the move.
        with patch.object(ImapMailbox, "mark", lose_connection):
            self.fetch(account)
        self.assertEqual(len(self.folder_files("INBOX")), 1, "nothing left the mailbox")
        self.assertEqual(account.last_run_status, "error")
        bounces = self.env["civimail.bounce"].search([("trace_id", "=", trace.id)])
        self.assertEqual(len(bounces), 1)

        log = self.fetch(account)
        self.assertEqual(log.status, "ok", log.message)
        self.assertEqual(self.folder_files("INBOX"), [])
        self.assertEqual(len(self.folder_files("INBOX.processed")), 1)
        self.assertEqual(
            self.env["civimail.bounce"].search_count([("trace_id", "=", trace.id)]), 1,
            "the second run only moved the message",
        )

    def test_same_message_twice_counts_once(self):
        account = self.make_account()
        partner = self.env["res.partner"].create({"name": "Twice", "email": "twice@example.com"})
        trace = self.make_trace(partner)
        raw = make_dsn(account._verp_codec().build(trace.id, trace.email), trace.email,
                       message_id="<same-bounce@mx.example.net>")
        self.dovecot.deliver(raw)
        self.dovecot.deliver(raw)
        self.fetch(account)
        self.dovecot.deliver(raw)
        self.fetch(account)
        self.assertEqual(self.env["civimail.bounce"].search_count([("trace_id", "=", trace.id)]), 1)
        self.assertEqual(len(self.folder_files("INBOX.processed")), 3)

    def test_fetch_now_button(self):
        account = self.make_account()
        self.deliver_bounce(account)
        result = account.with_user(self.user_manager).action_fetch_now()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        self.assertEqual(result["params"]["title"], "Fetch Bounces")
        log = self.env["civimail.job.log"].search([("job", "=", "fetch_bounces")], limit=1)
        self.assertEqual(log.origin, "button")
        self.assertEqual(log.processed_count, 1)

    def test_processed_message_shows_what_it_left(self):
        """A processed message names its sender, the bounce, trace and contact it left,
        and keeps the raw message for managers as long as housekeeping keeps the line."""
        account = self.make_account()
        trace = self.deliver_bounce(account)
        self.fetch(account)
        processed = account.processed_message_ids
        processed.invalidate_recordset()  # read afresh, as the form does in its own request
        self.assertEqual(processed.email_from,
                         "Mail Delivery System <MAILER-DAEMON@mx.example.net>")
        self.assertEqual(processed.with_context(lang="en_US").result, "Invalid")
        self.assertEqual(processed.trace_ids, trace)
        self.assertEqual(processed.bounce_ids.trace_id, trace)
        self.assertEqual(processed.partner_ids.email, "ada@example.com")
        raw = base64.b64decode(processed.with_user(self.user_manager).raw_message)
        self.assertIn(b"Final-Recipient: rfc822; ada@example.com", raw)
        with self.assertRaises(AccessError):
            processed.with_user(self.user_civimail).read(["raw_message"])
        self.env.flush_all()
        self.env.cr.execute("UPDATE civimail_processed_message SET create_date = "
                            "now() - interval '40 days' WHERE id = %s", [processed.id])
        self.env["civimail.processed.message"]._purge(30)
        self.assertFalse(processed.exists(), "the raw message goes with its line")
