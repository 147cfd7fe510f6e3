import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import pytz
from odoo import fields
from odoo.tests import HttpCase, tagged

from ..engine.verp import VerpCodec
from ..models.stored_messages import fact
from .common import make_dsn

# Every list of the addon, by its action (opened in its list view).
LIST_ACTIONS = [
    "civimail_addon.civimail_mail_account_action",
    "civimail_addon.civimail_bounce_action",
    "civimail_addon.civimail_bounce_type_action",
    "civimail_addon.civimail_bounce_pattern_action",
    "civimail_addon.civimail_spool_action",
    "civimail_addon.civimail_deliverability_check_action",
    "civimail_addon.civimail_processed_message_action",
    "civimail_addon.civimail_job_log_action",
    "civimail_addon.ir_cron_action_civimail",
    "civimail_addon.civimail_mailing_report_action",
    "civimail_addon.civimail_bounce_action_report",
    "civimail_addon.civimail_bounce_action_domain",
    "civimail_addon.civimail_hold_action_report",
    "civimail_addon.civimail_deliverability_check_action_dashboard",
    "civimail_addon.civimail_job_status_action",
    "civimail_addon.civimail_provider_account_action",
    "civimail_addon.civimail_provider_event_action",
]


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
        self.assertEqual((log.origin, log.status, log.processed_count), ("manual", "ok", 1))
        self.assertEqual(log.user_id, self.env.ref("base.user_admin"), "who pressed Run now")
        self.assertEqual(account.last_test_status, "ok")
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

    def test_mailing_progress_tour(self):
        """Paused, one progress bar, the send-limit wait in the user's zone, kept after Resume."""
        admin = self.env.ref("base.user_admin")
        admin.tz = "Asia/Kolkata"
        until = (fields.Datetime.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
        local = pytz.utc.localize(until).astimezone(pytz.timezone(admin.tz))
        readers = self.env["res.partner"].create([
            {"name": "Sent", "email": "sent.reader@example.com"},
            {"name": "Failed", "email": "failed.reader@example.com"},
            {"name": "Queued", "email": "queued.reader@example.com"},
        ])
        mailing = self.env["mailing.mailing"].create({
            "subject": f"Progress tour {local:%H:%M}",
            "body_html": "<p>Hello</p>",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "mailing_domain": repr([("id", "in", readers.ids)]),
            "user_id": admin.id,
            "state": "sending",
            "civimail_paused": True,
            "civimail_wait_until": until,
        })
        self.env["mailing.trace"].create([
            {"mass_mailing_id": mailing.id, "model": "res.partner", "res_id": reader.id,
             "email": reader.email, "trace_status": status}
            for reader, status in zip(readers, ("sent", "error", "outgoing"), strict=True)
        ])
        self.start_tour(f"/odoo/action-mass_mailing.mailing_mailing_action_mail/{mailing.id}",
                        "civimail_mailing_progress_tour", login="admin")
        self.assertFalse(mailing.civimail_paused)
        self.assertEqual(mailing.civimail_wait_until, until)

    def test_french_tour(self):
        """What jobs wrote as OdooBot, in English, reads in French for a French admin."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(
            ["civimail_addon"], ["fr_FR"], overwrite=True)
        self.env.ref("base.user_admin").lang = "fr_FR"
        bot = self.env(user=self.env.ref("base.user_root"), context={"lang": "en_US"})
        bot["civimail.job.log"]._run_job("housekeeping")
        account = bot["civimail.mail.account"].create({
            "name": "Rebonds", "usage": "bounce", "protocol": "directory",
            "path": "/nonexistent", "local_part": "return+", "email_domain": "example.org",
        })
        bot["civimail.processed.message"].create({
            "account_id": account.id, "message_key": "<forged@x>", "outcome": "ignored",
            "subject": "Forged bounce", "label": "unidentified",
            "reason_data": [fact("reason_bad_signature", trace=4242)],
        })
        bot["res.partner"].browse(self.partner.id)._civimail_put_on_hold({
            self.partner: (self.env.ref("civimail_addon.bounce_type_dns"), 3,
                           "smtp; 550 5.1.2 Host or domain name not found"),
        })
        self.start_tour("/odoo", "civimail_french_tour", login="admin")

    def test_every_list_shows_its_headers_whole(self):
        """Each list of the addon, at Odoo's test browser width (1366 px), in English and
        in French, shows every column header without cutting it."""
        self.assertEqual(self.browser_size, "1366x768")
        self.env["civimail.spool"].create({  # no demo data has one
            "mail_from": "return+b.1.x@tour.example", "rcpt_to": "spooled@example.com",
            "subject": "Spooled", "mailing_id": self.mailing.id,
        })
        self.env["ir.config_parameter"].sudo().set_param(
            "civimail_addon.tour_list_actions", json.dumps(LIST_ACTIONS))
        self.start_tour("/odoo", "civimail_list_headers_tour", login="admin")
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(
            ["civimail_addon"], ["fr_FR"], overwrite=True)
        self.env.ref("base.user_admin").lang = "fr_FR"
        self.start_tour("/odoo", "civimail_list_headers_tour", login="admin")
