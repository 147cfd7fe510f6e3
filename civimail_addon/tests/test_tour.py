import shutil
import tempfile
from pathlib import Path

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..engine.verp import VerpCodec
from ..models.stored_messages import fact
from .common import make_dsn


@tagged("post_install", "-at_install")
class TestTour(HttpCase):
    """The guided tours, in a real browser, on data of their own (demo data or not)."""

    def setUp(self):
        super().setUp()
        self.partner = self.env["res.partner"].create({
            "name": "Tour Recipient", "email": "tour.recipient@example.com",
        })
        self.mailing = self.env["mailing.mailing"].create({
            "subject": "Tour newsletter",
            "body_html": "<p>Hello</p>",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "user_id": self.env.ref("base.user_admin").id,
            "state": "done",
            "sent_date": fields.Datetime.now(),
        })
        self.trace = self.env["mailing.trace"].create({
            "mass_mailing_id": self.mailing.id, "model": "res.partner",
            "res_id": self.partner.id, "email": self.partner.email_normalized,
            "trace_status": "sent",
        })

    def mailbox_with_bounce(self):
        """A local directory holding a bounce of the trace, to the address the tour gives."""
        mailbox = Path(tempfile.mkdtemp(prefix="civimail_tour_"))
        self.addCleanup(shutil.rmtree, mailbox, ignore_errors=True)
        secrets = self.env["civimail.mail.account"]._verp_secrets()
        verp = VerpCodec("return+", "tour.example", secrets).build(self.trace.id,
                                                                   self.trace.email)
        (mailbox / "bounce.eml").write_bytes(make_dsn(verp, self.trace.email))
        self.env["ir.config_parameter"].sudo().set_param("civimail_addon.tour_mailbox",
                                                         str(mailbox))
        return mailbox

    def test_admin_tour(self):
        """Create the bounce account, test it, fetch by hand, read the log, release the hold."""
        mailbox = self.mailbox_with_bounce()
        self.start_tour("/odoo", "civimail_admin_tour", login="admin")

        account = self.env["civimail.mail.account"].search([("name", "=", "Tour bounces")])
        self.assertEqual(
            (account.usage, account.protocol, account.path), ("bounce", "directory", str(mailbox))
        )
        self.assertEqual([p.name for p in (mailbox / "processed").iterdir()], ["bounce.eml"],
                         "the bounce left the mailbox once processed")
        log = self.env["civimail.job.log"].search([("job", "=", "fetch_bounces")], limit=1)
        self.assertEqual((log.origin, log.status, log.processed_count), ("cron", "ok", 1))
        bounce = self.env["civimail.bounce"].search([("trace_id", "=", self.trace.id)])
        self.assertEqual(bounce.type_id.code, "invalid")
        self.assertTrue(bounce.released, "released with the contact: it counts no more")
        self.assertEqual(self.trace.trace_status, "bounce")
        self.assertFalse(self.partner.email_on_hold)
        self.assertIn("released from hold by", self.partner.message_ids[0].body)

    def test_dashboard_tour(self):
        """Every screen of Email Marketing > Reporting > CiviMail opens with its records."""
        self.env["civimail.bounce"].create({
            "email": "held@bounce.example",
            "type_id": self.env.ref("civimail_addon.bounce_type_invalid").id,
            "mailing_id": self.mailing.id,
            "trace_id": self.trace.id,
        })
        self.trace.trace_status = "bounce"
        self.env["res.partner"].create({
            "name": "Dashboard Held", "email": "held@bounce.example", "email_on_hold": True,
            "email_hold_date": fields.Datetime.now(),
            "email_hold_data": fact("hold_reason_one", type={"result": "invalid"}),
        })
        self.env["civimail.deliverability.check"].create({
            "check": "dmarc", "subject": "dashboard.example", "status": "error",
            "message_en": "dashboard.example publishes no DMARC record.",
            "date": fields.Datetime.now(), "company_id": self.env.company.id,
        })
        self.env["civimail.job.log"].create({
            "job": "fetch_bounces", "date_start": fields.Datetime.now(), "status": "error",
            "message_data": "Dashboard failure: the mailbox cannot be read.",
        })
        self.start_tour("/odoo", "civimail_dashboard_tour", login="admin")
