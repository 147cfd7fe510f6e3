"""VERP addresses on messages really sent through the suite's SMTP sink."""

from odoo.addons.civimail_addon.engine.mailbox import PROCESSED
from odoo.addons.civimail_addon.tests.test_verp_requests import VerpRequestCaseMixin, request
from odoo.tests import tagged

from .common import CivimailMailCase
from .test_send_mailings import SendCaseMixin


@tagged("post_install", "-at_install")
class TestVerpRequestsSent(VerpRequestCaseMixin, SendCaseMixin, CivimailMailCase):
    """What the messages of a mailing carry: the unsubscribe, opt-out and reply addresses."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_sending()
        cls.setup_verp()

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
