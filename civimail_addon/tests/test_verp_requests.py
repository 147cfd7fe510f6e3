from email.utils import make_msgid

from odoo.tests import tagged

from ..engine.mailbox import IGNORED, PROCESSED
from ..models.stored_messages import render
from .common import CivimailMailCase, make_dsn
from .test_send_mailings import SendCaseMixin, really_sending


def request(to, *, sender="reader0@example.com", subject="", body="", message_id=None,
            extra=""):
    """An email to ``to`` as a mail client sends it (a List-Unsubscribe mailto, a reply)."""
    return (
        f"From: Reader <{sender}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message_id or make_msgid(domain='example.com')}\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


@tagged("post_install", "-at_install")
class TestVerpRequests(SendCaseMixin, CivimailMailCase):
    """Unsubscribe, opt-out and reply addresses of sent messages, read by Fetch Bounces."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_sending()
        cls.codec = cls.account._verp_codec()
        cls.reader = cls.partners[0]

    def process(self, raw, account=None):
        """(outcome, result code, reason in words) of one message of the bounce mailbox."""
        outcome, label, reason = self.env["civimail.bounce"]._process_bounce_messages(
            account or self.account, {"uid": raw})["uid"]
        return outcome, label, render(self.env, reason)

    def address(self, trace, action):
        return self.codec.build(trace.id, trace.email, action)

    def blocklisted(self, email):
        return bool(self.env["mail.blacklist"].search([("email", "=", email)]))

    def sent_trace(self, mailing=None, partner=None):
        partner = partner or self.reader
        return self.make_trace(partner, mailing or self.make_mailing(partner))

    # -- what the messages carry -------------------------------------------------------
    def test_sent_messages_carry_the_unsubscribe_and_reply_addresses(self):
        tracked = self.make_mailing(self.partners[:1], civimail_track_replies=True,
                                    reply_to_mode="new", reply_to="team@example.org")
        tracked.action_put_in_queue()
        self.run_job()
        (received,) = self.sink.wait_for(1)
        trace = self.traces(tracked)
        message = received.message
        self.assertIn(f"<mailto:{self.address(trace, 'u')}?subject=unsubscribe>",
                      message["List-Unsubscribe"])
        self.assertEqual(message["Reply-To"].addresses[0].addr_spec, self.address(trace, "r"))
        self.assertEqual(message["Reply-To"].addresses[0].display_name, "News")
        self.assertEqual(received.mail_from, self.address(trace, "b"))

    # -- unsubscribe ---------------------------------------------------------------------
    def test_unsubscribe_by_mail_blocklists_a_contact_mailing_whatever_it_says(self):
        trace = self.sent_trace()
        raw = request(self.address(trace, "u"), subject="Re: Your news",
                      body="please stop sending me this")
        outcome, label, reason = self.process(raw)
        self.assertEqual((outcome, label), (PROCESSED, "unsubscribed"))
        self.assertTrue(self.blocklisted(self.reader.email))
        self.assertTrue(trace.civimail_unsubscribe_date)
        self.assertIn("unsubscribe email", reason)
        self.assertIn("Blocklisted by an unsubscribe email", self.reader.message_ids[0].body)
        self.assertEqual(trace.trace_status, "sent", "an unsubscribe is no bounce")
        self.assertFalse(self.env["civimail.bounce"].search([("trace_id", "=", trace.id)]))

    def test_unsubscribe_by_mail_leaves_the_lists_of_a_list_mailing(self):
        mailing_list = self.env["mailing.list"].create({"name": "Readers"})
        contact = self.env["mailing.contact"].create({
            "name": "Reader", "email": "listreader@example.com",
            "subscription_ids": [(0, 0, {"list_id": mailing_list.id})],
        })
        mailing = self.make_mailing(
            mailing_model_id=self.env["ir.model"]._get_id("mailing.list"),
            contact_list_ids=[(6, 0, mailing_list.ids)], mailing_domain="[]")
        trace = self.env["mailing.trace"].create({
            "mass_mailing_id": mailing.id, "model": "mailing.contact", "res_id": contact.id,
            "email": contact.email, "trace_status": "sent",
        })
        outcome, label, reason = self.process(request(self.address(trace, "u"),
                                                      sender=contact.email, subject="unsubscribe"))
        self.assertEqual((outcome, label), (PROCESSED, "unsubscribed"))
        self.assertTrue(contact.subscription_ids.opt_out, reason)
        self.assertFalse(self.blocklisted(contact.email), "the lists only, as the one-click link")
        self.assertIn("Readers", contact.message_ids[0].body)

    def test_forged_unsubscribe_is_ignored_with_its_reason(self):
        trace = self.sent_trace()
        bounce_address = self.address(trace, "b")
        cases = {
            "bounce signature reused": bounce_address.replace("+b.", "+u."),
            "another recipient": self.codec.build(trace.id, "mallory@example.com", "u"),
            "unknown trace": self.codec.build(trace.id + 10_000, trace.email, "u"),
        }
        for name, address in cases.items():
            with self.subTest(name):
                outcome, label, reason = self.process(request(address))
                self.assertEqual((outcome, label), (IGNORED, "unidentified"))
                self.assertRegex(reason, "bad signature|does not exist")
        self.assertFalse(self.blocklisted(self.reader.email))
        self.assertFalse(trace.civimail_unsubscribe_date)

    def test_replayed_unsubscribe_counts_once(self):
        trace = self.sent_trace()
        self.assertEqual(self.process(request(self.address(trace, "u")))[1], "unsubscribed")
        notes = len(self.reader.message_ids)
        outcome, label, _reason = self.process(request(self.address(trace, "u")))
        self.assertEqual((outcome, label), (PROCESSED, "already_processed"))
        self.assertEqual(len(self.reader.message_ids), notes, "nothing done twice")

    # -- opt-out ----------------------------------------------------------------------
    def test_opt_out_blocklists_from_every_mailing(self):
        mailing_list = self.env["mailing.list"].create({"name": "Opt-out list"})
        mailing = self.make_mailing(
            mailing_model_id=self.env["ir.model"]._get_id("mailing.list"),
            contact_list_ids=[(6, 0, mailing_list.ids)], mailing_domain="[]")
        trace = self.sent_trace(mailing)
        forged = self.address(trace, "u").replace("+u.", "+o.")
        self.assertEqual(self.process(request(forged))[0], IGNORED)
        self.assertFalse(self.blocklisted(self.reader.email))
        outcome, label, _reason = self.process(request(self.address(trace, "o")))
        self.assertEqual((outcome, label), (PROCESSED, "opted_out"))
        self.assertTrue(self.blocklisted(self.reader.email))
        self.assertTrue(trace.civimail_opt_out_date)
        self.assertEqual(self.process(request(self.address(trace, "o")))[1],
                         "already_processed")

    def test_opt_out_token_gives_each_message_an_address_fetch_bounces_honours(self):
        mailing = self.make_mailing(self.partners[:2], body_html=(
            '<p>Hello. <a href="mailto:{action.optOut}">Never email me again</a> '
            "(or write to {action.optOut}).</p>"))
        mailing.action_put_in_queue()
        self.run_job()
        addresses = {}
        for received in self.sink.wait_for(2):
            message = received.message
            trace = self.traces(mailing).filtered(
                lambda t, to=received.rcpt_tos[0]: t.email == to)
            address = self.address(trace, "o")
            html = message.get_body(("html",)).get_content()
            plain = message.get_body(("plain",)).get_content()
            self.assertIn(f'href="mailto:{address}"', html)
            self.assertIn(f"(or write to {address})", html)
            self.assertIn(address, plain)
            self.assertNotIn("optOut", html + plain)
            addresses[trace.email] = address
        self.assertEqual(len(set(addresses.values())), 2, "one address per recipient")
        first, second = self.partners[:2]
        outcome, label, _reason = self.process(request(addresses[first.email],
                                                       sender=first.email))
        self.assertEqual((outcome, label), (PROCESSED, "opted_out"))
        self.assertTrue(self.blocklisted(first.email))
        self.assertFalse(self.blocklisted(second.email))

    # -- replies ---------------------------------------------------------------------
    def tracked_trace(self):
        self.env.user.email = "owner@example.org"
        mailing = self.make_mailing(self.reader, civimail_track_replies=True,
                                    reply_to_mode="new", reply_to="Team <team@example.org>",
                                    user_id=self.env.user.id)
        return self.sent_trace(mailing)

    def test_reply_is_forwarded_with_its_sender_in_reply_to_and_filed(self):
        trace = self.tracked_trace()
        raw = request(f"News <{self.address(trace, 'r')}>", subject="Re: News for Reader 0",
                      body="Thanks, I will come on Tuesday.")
        outcome, label, reason = self.process(raw)
        self.assertEqual((outcome, label), (PROCESSED, "replied"), reason)
        self.assertEqual(trace.trace_status, "reply")
        self.assertTrue(trace.reply_datetime)
        filed = self.reader.message_ids.filtered(lambda m: m.subject == "Re: News for Reader 0")
        self.assertEqual(filed.mail_activity_type_id, self.env.ref("mail.mail_activity_data_email"))
        self.assertIn("Tuesday", filed.body)
        forward = self.env["mail.mail"].search([("email_to", "=", "Team <team@example.org>")])
        self.assertEqual(len(forward), 1)
        with really_sending():
            forward.send()
        (received,) = self.sink.wait_for(1)
        message = received.message
        self.assertEqual(received.rcpt_tos, ["team@example.org"])
        self.assertEqual(message["Reply-To"].addresses[0].addr_spec, "reader0@example.com")
        self.assertEqual(message["From"].addresses[0].addr_spec, "news@example.org")
        self.assertEqual(message["From"].addresses[0].display_name, "Reader")
        self.assertEqual(message["Subject"], "Re: News for Reader 0")
        self.assertEqual(message["X-CiviMail-Trace"], str(trace.id))
        self.assertIn("Tuesday", message.get_body(("plain",)).get_content())

    def test_reply_goes_to_the_responsible_without_a_reply_to_address(self):
        trace = self.tracked_trace()
        trace.mass_mailing_id.reply_to_mode = "update"
        self.process(request(self.address(trace, "r"), subject="Re: hi", body="yes"))
        self.assertTrue(self.env["mail.mail"].search([("email_to", "=", "owner@example.org")]))

    def test_auto_reply_to_the_reply_address_is_away_not_a_reply(self):
        trace = self.tracked_trace()
        raw = request(self.address(trace, "r"), subject="Out of office: News",
                      body="I am away until Monday.", extra="Auto-Submitted: auto-replied\r\n")
        outcome, label, _reason = self.process(raw)
        self.assertEqual((outcome, label), (PROCESSED, "away"))
        self.assertNotEqual(trace.trace_status, "reply")
        self.assertFalse(self.env["mail.mail"].search([("email_to", "like", "team@example.org")]))

    def test_a_bounce_sent_to_the_reply_address_is_a_bounce(self):
        trace = self.tracked_trace()
        outcome, label, _reason = self.process(make_dsn(self.address(trace, "r"), trace.email))
        self.assertEqual((outcome, label), (PROCESSED, "invalid"))
        self.assertEqual(trace.trace_status, "bounce")
        self.assertFalse(self.env["mail.mail"].search([("email_to", "like", "team@example.org")]))

    def test_forged_and_replayed_replies(self):
        trace = self.tracked_trace()
        forged = self.address(trace, "b").replace("+b.", "+r.")
        self.assertEqual(self.process(request(forged, body="hi"))[:2], (IGNORED, "unidentified"))
        self.assertEqual(trace.trace_status, "sent")
        raw = request(self.address(trace, "r"), subject="Re: News", body="hello")
        self.assertEqual(self.process(raw)[1], "replied")
        self.assertEqual(self.process(raw)[1], "already_processed", "the same email again")
        forwards = self.env["mail.mail"].search([("email_to", "=", "Team <team@example.org>")])
        self.assertEqual(len(forwards), 1)

    # -- the job log -------------------------------------------------------------------
    def test_fetch_bounces_counts_each_action_and_replays_apart(self):
        account = self.make_account(local_part="return+", email_domain="bounces.example.org")
        trace, other = self.tracked_trace(), self.sent_trace(partner=self.partners[1])
        unsubscribe = request(self.address(trace, "u"), message_id="<unsub@example.com>")
        for raw in (unsubscribe, unsubscribe,
                    request(self.address(trace, "u")),  # the same request again
                    request(self.address(trace, "r"), subject="Re: News", body="hello"),
                    request(self.address(other, "o"), sender=self.partners[1].email),
                    request(self.address(other, "b").replace("+b.", "+u."))):
            self.dovecot.deliver(raw)
        log = self.env["civimail.job.log"]._run_job("fetch_bounces", records=account)
        self.assertEqual(log.processed_count, 3, log.message)
        for part in ("3 processed, 1 ignored", "unsubscribed 1", "replied 1", "opted out 1",
                     "unidentified 1", "2 already processed"):
            self.assertIn(part, log.message)
        self.assertEqual(len(self.folder_files("INBOX")), 0, "every message left the inbox")
