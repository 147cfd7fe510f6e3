import email
import email.policy
from contextlib import contextmanager
from unittest.mock import patch

import pytz
from odoo import Command, tools
from odoo.addons.civimail_addon.engine.send_policy import Failure
from odoo.addons.civimail_addon.models.mailing_send_run import MailingSendRun
from odoo.addons.civimail_addon.tests.common import MailingCaseMixin
from odoo.exceptions import UserError
from odoo.modules import module as odoo_module
from odoo.tests import HttpCase, tagged

from .common import CivimailCase, test_servers

ADDRESS_FIELDS = ("From", "To", "Reply-To", "Cc")
TEXT_FIELDS = ("Subject", "Message-Id", "References", "Return-Path", "List-Unsubscribe",
               "List-Unsubscribe-Post", "Precedence", "X-Auto-Response-Suppress",
               "X-Odoo-Objects", "X-Odoo-Message-Id", "X-CiviMail-Mailing", "X-CiviMail-Trace",
               "MIME-Version")


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def message_summary(message):
    """What a recipient sees of a message: fields decoded, parts and their content."""
    def text(part):
        return part.get_content().replace("\r\n", "\n")

    return {
        "fields": sorted({name.lower() for name in message} - {"date"}),
        "addresses": {name: [(a.display_name, a.addr_spec) for a in message[name].addresses]
                      for name in ADDRESS_FIELDS if message[name] is not None},
        "text": {name: str(message[name]) for name in TEXT_FIELDS if message[name] is not None},
        "structure": [part.get_content_type() for part in message.walk()],
        "plain": text(message.get_body(("plain",))),
        "html": text(message.get_body(("html",))),
        "attachments": [(part.get_filename(), part.get_content_type(),
                         part.get_payload(decode=True)) for part in message.iter_attachments()],
    }


@contextmanager
def really_sending():
    """Odoo never opens SMTP sessions in tests; lift that guard around a real send."""
    with patch.object(odoo_module, "current_test", None):
        yield


class SendCaseMixin(MailingCaseMixin):
    """A mailing to contacts, the suite's real SMTP sink as outgoing server."""

    @classmethod
    def setup_sending(cls):
        cls.setup_mailings()
        cls.sink = test_servers().smtp
        cls.server = cls.env["ir.mail_server"].create({
            "name": "Sink", "smtp_host": cls.sink.host, "smtp_port": cls.sink.port,
            "smtp_encryption": "none", "sequence": 1,
        })
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("civimail_addon.delivery_mode", "send")
        params.set_param("civimail_addon.send_retry_delay", "0")
        params.set_param("civimail_addon.send_max_attempts", "2")

    def setUp(self):
        super().setUp()
        self.sink.clear_rules()
        self.sink.clear()

    def run_job(self, mailing=None):
        with really_sending():
            return self.env["civimail.job.log"]._run_job(
                "send_mailings", records=mailing, origin="button")


@tagged("post_install", "-at_install")
class TestSendMailings(SendCaseMixin, CivimailCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_sending()

    def test_each_recipient_gets_its_verp_envelope_headers_and_content(self):
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        log = self.run_job()
        self.assertEqual(log.status, "ok", log.message)
        received = self.sink.wait_for(4)
        self.assertEqual(len(received), 4)
        codec = self.account._verp_codec()
        traces = {trace.email: trace for trace in self.traces(mailing)}
        self.assertEqual(set(self.traces(mailing).mapped("trace_status")), {"sent"})
        for item in received:
            message = item.message
            (rcpt,) = item.rcpt_tos
            trace = traces[rcpt]
            self.assertEqual(item.mail_from, codec.build(trace.id, rcpt))
            self.assertEqual(message["X-CiviMail-Trace"], str(trace.id))
            self.assertEqual(message["X-CiviMail-Mailing"], str(mailing.id))
            # The id in the reply to DATA ("250 2.0.0 OK queued as N"), which providers'
            # event webhooks use to name the message.
            self.assertEqual(trace.civimail_provider_message_id, str(item.sequence))
            self.assertIn(f"/mailing/{mailing.id}/unsubscribe_oneclick?",
                          message["List-Unsubscribe"])
            self.assertIn(f"<mailto:{codec.build(trace.id, rcpt, 'u')}?subject=unsubscribe>",
                          message["List-Unsubscribe"])
            self.assertNotIn("+r.", str(message["Reply-To"]),
                             "replies are not tracked unless the mailing says so")
            self.assertEqual(message["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
            partner = self.partners.filtered(lambda p, rcpt=rcpt: p.email == rcpt)
            self.assertEqual(message["Subject"], f"News for {partner.name}")
            html = message.get_body(("html",)).get_content()
            self.assertIn(f"Dear {partner.name}", html)
            # The host's link tracking, unsubscribe link and open pixel, with real ids.
            self.assertRegex(html, rf"/r/\w+/m/{trace.id}\"")
            self.assertIn(f"/mailing/{mailing.id}/confirm_unsubscribe?", html)
            self.assertIn(f"/mail/track/{trace.mail_mail_id_int}/", html)
        self.assertEqual(mailing.state, "done")
        self.assertEqual((mailing.civimail_sent, mailing.civimail_total), (4, 4))

    def host_message(self, mailing, trace, values, route):
        """The bytes the host's own build_email and envelope code make of this trace."""
        addresses = trace._civimail_addresses(route[3])
        verp = addresses["b"]
        outgoing = self.env["mail.mail"]._civimail_prepare_outgoing_host(
            mailing, trace, values, route[0], addresses)
        IrMailServer = self.env["ir.mail_server"].sudo().with_context(
            send_validated_to=outgoing["email_to_normalized"], domain_bounce_address=verp)
        emails_from = tools.mail.email_split_and_format_normalize(outgoing["email_from"])
        message = IrMailServer.build_email(
            email_from=emails_from[0] if emails_from else outgoing["email_from"],
            email_to=outgoing["email_to"], subject=outgoing["subject"], body=outgoing["body"],
            body_alternative=outgoing["body_alternative"], email_cc=outgoing["email_cc"],
            reply_to=outgoing["reply_to"], message_id=outgoing["message_id"],
            references=outgoing["references"], subtype="html", subtype_alternative="plain",
            headers=outgoing["headers"],
            attachments=[(a.name, a.raw, a.mimetype)
                         for a in mailing.attachment_ids.sudo().sorted("id")],
        )
        _from, rcpt_to, message = IrMailServer._prepare_email_message(message, None)
        del message["Bcc"]  # as smtplib's send_message
        return verp, rcpt_to, message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

    def test_messages_are_the_ones_the_host_would_build(self):
        """Same fields, structure, bodies and attachments as the host's build_email."""
        people = self.env["res.partner"].create([
            {"name": 'Zoë Ünïcødé, "Q" Person with a rather long name indeed',
             "email": "zoe@example.com"},
            {"name": "Ада Лавлейс", "email": "Ada@Example.com"},
        ])
        files = self.env["ir.attachment"].create([
            {"name": "rapport été — final.pdf", "raw": bytes(range(256)) * 20,
             "mimetype": "application/pdf"},
            {"name": "notes.txt", "raw": b"hello\n", "mimetype": "text/plain"},
        ])
        mailing = self.make_mailing(
            people, subject="Nouvelles pour {{ object.name }} — été ☀",
            email_from="Équipe News <news@example.org>", reply_to_mode="new",
            reply_to="Réponses <replies@example.org>", civimail_track_replies=True,
            attachment_ids=[Command.set(files.ids)],
            body_html='<p>Dear <t t-out="object.name"/>, <a href="https://example.com/read">'
                      'read</a>, <a href="/view">online</a> or <a href="/unsubscribe_from_list">'
                      'unsubscribe</a>.</p>' + "<p>été</p>" * 20,
        )
        contacts = self.env["mailing.list"].create({"name": "Readers", "contact_ids": [
            Command.create({"name": "Élise List", "email": "elise@example.com"})]})
        by_list = self.make_mailing(
            self.env["res.partner"], subject="Liste ☀",
            mailing_model_id=self.env["ir.model"]._get_id("mailing.list"),
            contact_list_ids=[Command.set(contacts.ids)],
            mailing_domain=repr([("list_ids", "in", contacts.ids)]),
        )
        MailMail = self.env["mail.mail"].sudo()
        for item in (mailing, by_list):
            item._civimail_start()
            # As the job: each trace with its mail id.
            traces = self.env["mailing.trace"].sudo()._civimail_claim(item, 1, 10)
            self.assertTrue(traces)
            composer = item._civimail_composer()
            values = composer._prepare_mail_values(traces.mapped("res_id"))
            route = item._civimail_route()
            context = MailMail._civimail_mailing_context(item, "send")
            for trace in traces:
                ours = MailMail._civimail_build_message(
                    item, trace, values[trace.res_id], route, context, probe=True)
                host = self.host_message(item, trace, values[trace.res_id], route)
                self.assertEqual(ours[:2], host[:2])
                self.assertLessEqual(max(len(line) for line in ours[2].split(b"\r\n")), 998)
                self.assertEqual(message_summary(parse(ours[2])),
                                 message_summary(parse(host[2])))
            # The probe found the host's preparation equal: the mailing did not fall back to it.
            self.assertFalse(context["host_rendering"])
        received = message_summary(parse(ours[2]))
        self.assertEqual(received["addresses"]["To"], [("", "elise@example.com")])
        self.assertEqual(received["text"]["Subject"], "Liste ☀")

    def test_attachments_are_sent_with_every_message(self):
        files = self.env["ir.attachment"].create([
            {"name": "été.pdf", "raw": b"%PDF-1.4 fake", "mimetype": "application/pdf"},
            {"name": "agenda.ics", "raw": b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
             "mimetype": "text/calendar"},
        ])
        mailing = self.make_mailing(attachment_ids=[Command.set(files.ids)])
        mailing.action_put_in_queue()
        self.run_job()
        received = self.sink.wait_for(4)
        for item in received:
            self.assertEqual(
                [(part.get_filename(), part.get_payload(decode=True)) for part in
                 item.message.iter_attachments()],
                [("été.pdf", b"%PDF-1.4 fake"),
                 ("agenda.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")])
        # No copy of the files is left behind.
        self.assertEqual(self.env["ir.attachment"].search_count(
            [("name", "in", files.mapped("name"))]), 2)

    def test_a_mailing_without_a_from_address_is_not_sent(self):
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        mailing.email_from = "News, no address"
        log = self.run_job()
        self.assertEqual(mailing.state, "draft")
        self.assertIn("Send From", mailing.civimail_message)
        self.assertIn("Send From", log.message)
        self.assertEqual(self.sink.count(), 0)

    def test_a_message_without_from_falls_back_as_the_host_does(self):
        mailing = self.make_mailing(self.partners[:1])
        mailing._civimail_start()
        trace = self.traces(mailing)
        values = mailing._civimail_composer()._prepare_mail_values([trace.res_id])
        values = {**values[trace.res_id], "email_from": False}
        MailMail = self.env["mail.mail"].sudo()
        built = MailMail._civimail_build_message(
            mailing, trace, values, mailing._civimail_route(),
            MailMail._civimail_mailing_context(mailing, "send"))
        default_from = self.env["ir.mail_server"]._get_default_from_address()
        if default_from:  # the host writes its default sender
            self.assertEqual(parse(built[2])["From"].addresses[0].addr_spec,
                             tools.email_normalize(default_from))
        else:  # the host refuses, and the trace fails as the host's queue would say
            self.assertEqual(built, Failure(
                "mail_from_missing", self.env["ir.mail_server"].NO_FOUND_FROM))

    def test_the_host_queue_leaves_email_mailings_to_civimail(self):
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        self.env["mailing.mailing"]._process_mass_mailing_queue()
        self.assertEqual(mailing.state, "in_queue")
        self.assertFalse(self.env["mail.mail"].search([("mailing_id", "=", mailing.id)]))
        self.assertFalse(self.traces(mailing))

    def test_excluded_recipients_are_skipped_and_counted(self):
        blocked, held, invalid, twin = self.env["res.partner"].create([
            {"name": "Blocked", "email": "blocked@example.com"},
            {"name": "Held", "email": "held@example.com"},
            {"name": "Invalid", "email": "not-an-email"},
            {"name": "Twin", "email": self.partners[0].email},
        ])
        self.env["mail.blacklist"]._add("blocked@example.com")
        self.env["civimail.bounce"].create({
            "email": "held@example.com",
            "type_id": self.env["civimail.bounce.type"]._by_code()["invalid"].id,
            "hard": True,
        })
        mailing = self.make_mailing(self.partners[:1] | blocked | held | invalid | twin)
        mailing.action_put_in_queue()
        self.run_job()
        self.assertEqual([m.rcpt_tos for m in self.sink.wait_for(1)],
                         [[self.partners[0].email]])
        by_partner = {t.res_id: (t.trace_status, t.failure_type) for t in self.traces(mailing)}
        self.assertEqual(by_partner[blocked.id], ("cancel", "mail_bl"))
        self.assertEqual(by_partner[held.id], ("cancel", "civimail_hold"))
        self.assertEqual(by_partner[invalid.id], ("cancel", "mail_email_invalid"))
        dup = [by_partner[self.partners[0].id], by_partner[twin.id]]
        self.assertIn(("cancel", "mail_dup"), dup)
        self.assertIn(("sent", False), dup)
        self.assertEqual((mailing.civimail_skipped, mailing.civimail_sent), (4, 1))

    def test_disabled_mode_refuses_to_start(self):
        self.env["ir.config_parameter"].set_param("civimail_addon.delivery_mode", "disabled")
        mailing = self.make_mailing()
        with self.assertRaisesRegex(UserError, "Delivery mode"):
            mailing.action_put_in_queue()
        self.assertEqual(mailing.state, "draft")

    def test_missing_bounce_account_names_the_setting(self):
        self.env["civimail.mail.account"].search([("usage", "=", "bounce")]).active = False
        with self.assertRaisesRegex(UserError, "bounce account"):
            self.make_mailing().action_put_in_queue()

    def test_redirect_to_database_stores_complete_messages(self):
        self.env["ir.config_parameter"].set_param("civimail_addon.delivery_mode", "spool")
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        self.run_job()
        self.assertEqual(self.sink.count(), 0)
        spooled = self.env["civimail.spool"].search([("mailing_id", "=", mailing.id)])
        self.assertEqual(len(spooled), 4)
        self.assertIn("X-CiviMail-Trace: ", spooled[0].raw_text)
        self.assertTrue(spooled[0].mail_from.startswith("return+b."))
        self.assertEqual(mailing.civimail_sent, 4)

    def test_test_mode_sends_everything_to_the_test_address(self):
        params = self.env["ir.config_parameter"]
        params.set_param("civimail_addon.delivery_mode", "test")
        params.set_param("civimail_addon.test_address", "tester@example.net")
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        self.run_job()
        received = self.sink.wait_for(4)
        self.assertEqual({tuple(m.rcpt_tos) for m in received}, {("tester@example.net",)})
        self.assertEqual(sorted(m.message["X-CiviMail-Original-To"] for m in received),
                         sorted(self.partners.mapped("email")))

    def test_send_limit_pauses_the_mailing_until_the_next_period_and_resets(self):
        self.server.write({"civimail_limit_period": "hour", "civimail_limit": 3})
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        self.run_job()
        self.assertEqual(len(self.sink.wait_for(3)), 3)
        waiting = self.traces(mailing).filtered(lambda t: t.trace_status == "outgoing")
        self.assertEqual(len(waiting), 1)
        self.assertTrue(waiting.civimail_next_try)
        self.assertEqual(mailing.state, "sending")
        self.assertEqual(mailing.civimail_wait_until, waiting.civimail_next_try)
        self.assertIn("Waiting for send limit until", mailing.civimail_wait_note)
        self.assertIn("3 of 3", self.server.civimail_usage)
        self.server.with_user(self.user_manager).action_civimail_reset_limit()
        self.assertIn("0 of 3", self.server.civimail_usage)

    def test_send_limit_wait_reads_in_the_user_zone_and_survives_resume(self):
        self.server.write({"civimail_limit_period": "day", "civimail_limit": 1})
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        self.run_job()
        until = mailing.civimail_wait_until
        self.assertTrue(until)
        for zone in ("Pacific/Auckland", "America/Los_Angeles"):
            with self.subTest(zone):
                local = pytz.utc.localize(until).astimezone(pytz.timezone(zone))
                note = mailing.with_context(tz=zone).civimail_wait_note
                self.assertRegex(note, r"^Waiting for send limit until ")
                self.assertTrue(note.endswith(f" {local:%H:%M}"), note)
        mailing.action_civimail_pause()
        self.assertEqual(mailing.civimail_state, "paused")
        mailing.action_civimail_resume()
        self.assertEqual(mailing.civimail_state, "sending")
        self.assertTrue(mailing.civimail_wait_note, "still waiting after Resume")
        self.run_job()  # still nothing to send: the limit holds
        self.assertEqual(self.sink.count(), 1)
        self.assertTrue(mailing.civimail_wait_note)

    def test_a_scheduled_run_with_nothing_to_do_leaves_no_line(self):
        JobLog = self.env["civimail.job.log"]
        cron = self.env.ref("civimail_addon.ir_cron_civimail_send_mailings")
        paused = self.make_mailing()
        paused.action_put_in_queue()
        paused.action_civimail_pause()
        self.run_job(paused)  # starts it: its recipients are created
        before = JobLog.search_count([("job", "=", "send_mailings")])
        with really_sending():
            JobLog.with_context(cron_id=cron.id)._run_job("send_mailings")
        self.assertEqual(JobLog.search_count([("job", "=", "send_mailings")]), before)
        with really_sending():
            cron.method_direct_trigger()  # "Run Manually" writes its line, saying why
        log = JobLog.search([("job", "=", "send_mailings")], limit=1)
        self.assertEqual((log.origin, log.status, log.processed_count), ("manual", "ok", 0))
        self.assertIn("Nothing to send", log.message)
        self.assertEqual(self.sink.count(), 0)
        # Delivery disabled: said while a mailing waits for it, else no line either.
        self.env["ir.config_parameter"].set_param("civimail_addon.delivery_mode", "disabled")
        before = JobLog.search_count([("job", "=", "send_mailings")])
        JobLog.with_context(cron_id=cron.id)._run_job("send_mailings")
        self.assertEqual(JobLog.search_count([("job", "=", "send_mailings")]), before)
        paused.action_civimail_resume()
        log = JobLog.with_context(cron_id=cron.id)._run_job("send_mailings")
        self.assertIn("Delivery is disabled", log.message)

    def test_the_run_counts_recipients_skipped_at_start(self):
        blocked = self.env["res.partner"].create({"name": "B", "email": "b@example.com"})
        self.env["mail.blacklist"]._add("b@example.com")
        mailing = self.make_mailing(self.partners[:2] | blocked)
        mailing.action_put_in_queue()
        log = self.run_job(mailing)
        self.assertIn("2 sent, 0 failed, 0 bounced, 1 skipped", log.message)
        self.assertEqual((log.processed_count, mailing.civimail_skipped), (2, 1))

    def test_progress_counts_and_rates(self):
        held = self.env["res.partner"].create({"name": "Held", "email": "held2@example.com"})
        self.env["civimail.bounce"].create({
            "email": "held2@example.com", "hard": True,
            "type_id": self.env["civimail.bounce.type"]._by_code()["invalid"].id,
        })
        mailing = self.make_mailing(self.partners | held)
        mailing.action_put_in_queue()
        self.run_job(mailing)
        traces = {t.email: t for t in self.traces(mailing)}
        traces["reader1@example.com"].set_replied()
        bounce = self.env["civimail.bounce"]._record_smtp_refusal(
            traces["reader2@example.com"], self.account, 550, "5.1.1 no such user", "rcpt")
        mailing.invalidate_recordset()
        self.assertEqual(
            (mailing.civimail_total, mailing.civimail_done, mailing.civimail_sent,
             mailing.civimail_bounced, mailing.civimail_skipped, mailing.civimail_replied,
             mailing.civimail_on_hold),
            (5, 5, 3, 1, 1, 1, 1))
        self.assertAlmostEqual(mailing.civimail_delivered_rate, 3 / 5)
        self.assertAlmostEqual(mailing.civimail_bounced_rate, 1 / 5)
        self.assertAlmostEqual(mailing.civimail_on_hold_rate, 1 / 5)
        (line,) = mailing.civimail_bounce_report_ids
        self.assertEqual((line.bounce_type_id, line.bounced_count), (bounce.type_id, 1))
        action = line.action_open_bounces()
        self.assertEqual(self.env["civimail.bounce"].search(action["domain"]), bounce)
        action = mailing.action_civimail_view_bounces()
        self.assertEqual(self.env["civimail.bounce"].search(action["domain"]), bounce)

    def test_oversized_mailing_refuses_to_start_saying_by_how_much(self):
        self.server.civimail_max_size_kb = 1
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        log = self.run_job()
        self.assertEqual(mailing.state, "draft")
        self.assertRegex(mailing.civimail_message, r"\d+ kB more than the 1 kB")
        self.assertIn("kB more", log.message)
        self.assertEqual(self.sink.count(), 0)

    def test_temporary_failures_are_retried_then_marked_failed(self):
        self.sink.reject(self.partners[1].email, 451, "4.3.0 Try again later")
        self.sink.drop_connection_on(self.partners[2].email)
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        log = self.run_job()
        self.assertEqual(sorted(m.rcpt_tos[0] for m in self.sink.messages()),
                         sorted((self.partners[0] | self.partners[3]).mapped("email")))
        failed = self.traces(mailing).filtered(lambda t: t.trace_status == "error")
        self.assertEqual(sorted(failed.mapped("res_id")), self.partners[1:3].ids)
        self.assertEqual(set(failed.mapped("civimail_attempts")), {2})
        reasons = dict(zip(failed.mapped("res_id"), failed.mapped("failure_reason"), strict=True))
        self.assertIn("451 4.3.0 Try again later (RCPT)", reasons[self.partners[1].id])
        self.assertIn("after 2 attempts", reasons[self.partners[2].id])
        self.assertEqual(log.status, "warning")
        self.assertEqual(mailing.state, "done")

    def test_permanent_refusal_at_send_time_is_a_bounce(self):
        self.sink.reject(self.partners[0].email, 550, "5.1.1 <x>: Recipient address rejected: "
                         "User unknown in virtual mailbox table")
        self.sink.reject(self.partners[1].email, 554, "5.7.1 Message rejected as spam",
                         stage="data")
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        self.run_job()
        traces = {t.res_id: t for t in self.traces(mailing)}
        self.assertEqual(traces[self.partners[0].id].trace_status, "bounce")
        bounces = self.env["civimail.bounce"].search([("mailing_id", "=", mailing.id)])
        by_email = {b.email: b for b in bounces}
        self.assertEqual(by_email[self.partners[0].email].type_id.code, "invalid")
        self.assertTrue(by_email[self.partners[0].email].hard)
        self.assertEqual(by_email[self.partners[1].email].type_id.code, "spam")
        self.assertTrue(self.partners[0].email_on_hold)
        self.assertEqual(mailing.civimail_bounced, 2)

    def test_two_workers_never_claim_the_same_recipient(self):
        self.env["ir.config_parameter"].set_param("civimail_addon.send_batch_size", "1")
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        Mailing = self.env["mailing.mailing"].sudo()
        Trace = self.env["mailing.trace"].sudo()
        first, second = MailingSendRun(Mailing, "send"), MailingSendRun(Mailing, "send")
        try:
            first.start_due(None)
            claimed = []
            for run in (first, second, first, second, first):
                claimed.append(Trace._civimail_claim(mailing, run.claim, run.batch_size).ids)
            self.assertEqual([len(ids) for ids in claimed], [1, 1, 1, 1, 0])
            self.assertEqual(len({i for ids in claimed for i in ids}), 4)
            # A worker that died leaves its claims; the next run puts them back.
            second.close()
            third = MailingSendRun(Mailing, "send")
            Trace._civimail_recover(third.claim)
            mine = self.traces(mailing).filtered(lambda t: t.civimail_claim == first.claim)
            self.assertEqual(len(mine), 2)
            self.assertEqual(len(self.traces(mailing).filtered(
                lambda t: t.trace_status == "outgoing")), 2)
            third.close()
        finally:
            first.close()

    def test_pause_resume_and_cancel(self):
        mailing = self.make_mailing()
        mailing.action_put_in_queue()
        mailing.action_civimail_pause()
        self.run_job()
        self.assertEqual(self.sink.count(), 0)
        self.assertEqual(mailing.civimail_total, 4)
        mailing.action_civimail_resume()
        self.run_job()
        self.assertEqual(len(self.sink.wait_for(4)), 4)
        self.assertEqual(mailing.state, "done")

        other = self.make_mailing()
        other.action_put_in_queue()
        other.action_civimail_pause()
        self.run_job()
        other.action_cancel()
        self.assertEqual(other.state, "done")
        self.assertEqual(other.civimail_skipped, 4)
        self.assertEqual(self.sink.count(), 4)


@tagged("post_install", "-at_install")
class TestSendMailingsOneClick(SendCaseMixin, HttpCase):
    """RFC 8058: the List-Unsubscribe URL of a sent message unsubscribes on POST."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_sending()

    def test_one_click_unsubscribe_from_the_header(self):
        mailing = self.make_mailing(self.partners[:1])
        mailing.action_put_in_queue()
        self.run_job()
        (received,) = self.sink.wait_for(1)
        url = received.message["List-Unsubscribe"].split(",")[0].strip("<> ")
        path = url[url.index("/mailing/"):]
        response = self.url_open(path, data={"List-Unsubscribe": "One-Click"})
        self.assertEqual(response.status_code, 200)
        self.assertTrue(self.env["mail.blacklist"].search(
            [("email", "=", self.partners[0].email)]))
