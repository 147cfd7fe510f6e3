"""VERP addresses on messages really sent through the suite's SMTP sink."""

from odoo.addons.civimail_addon.tests.test_verp_requests import VerpRequestCaseMixin
from odoo.tests import tagged

from .common import CivimailMailCase
from .test_send_mailings import SendCaseMixin


@tagged("post_install", "-at_install")
class TestVerpRequestsSent(VerpRequestCaseMixin, SendCaseMixin, CivimailMailCase):
    """What the messages of a mailing carry: the unsubscribe and reply addresses."""

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
