import contextlib
from collections import defaultdict

import pytz
from odoo import Command, api, fields, models, tools
from odoo.exceptions import UserError
from odoo.osv import expression

from ..engine.send_policy import Failure, RetryPolicy
from .mail_compose_message import ComposerBuilt
from .mailing_send_run import MailingSendRun
from .stored_messages import fact

DELIVERY_MODE_PARAM = "civimail_addon.delivery_mode"
TEST_ADDRESS_PARAM = "civimail_addon.test_address"
BATCH_SIZE_PARAM = "civimail_addon.send_batch_size"
MAX_ATTEMPTS_PARAM = "civimail_addon.send_max_attempts"
RETRY_DELAY_PARAM = "civimail_addon.send_retry_delay"
DELIVERY_MODES = [
    ("send", "Send"),
    ("disabled", "Disabled"),
    ("spool", "Redirect to database"),
    ("test", "Test mode"),
]
DEFAULT_BATCH_SIZE = 200
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_RETRY_DELAY = 300  # seconds before the first retry; doubled each time
START_CHUNK = 1000  # recipients whose traces are created at once

# Traces the job is done with, by what happened.
SENT_STATUSES = ("sent", "open", "reply", "pending")


class MailingMailing(models.Model):
    """Email mailings are sent by CiviMail's "Send Scheduled Mailings" job.

    The host's queue cron keeps SMS and other mailings; it never sees email
    mailings (see ``_process_mass_mailing_queue``), so nothing is sent twice
    by two senders.
    """

    _inherit = "mailing.mailing"

    civimail_paused = fields.Boolean(string="Paused", copy=False, readonly=True)
    civimail_state = fields.Selection(
        [("draft", "Draft"), ("in_queue", "In Queue"), ("sending", "Sending"),
         ("paused", "Paused"), ("done", "Sent")],
        string="Sending status", compute="_compute_civimail_state",
        help="The mailing's status, Paused while CiviMail's sending is paused.",
    )
    civimail_message = fields.Text(
        string="Sending problem", copy=False, readonly=True,
        help="Why the mailing stopped, as the sending job last saw it.",
    )
    civimail_track_replies = fields.Boolean(
        string="Track replies",
        help="Replies go to a signed address of the bounce mailbox: Fetch Bounces marks the "
        "recipient as replied, files the reply on the contact and forwards it to the "
        "mailing's reply-to address (or its responsible).",
    )
    civimail_wait_until = fields.Datetime(
        string="Waiting for send limit until", copy=False, readonly=True,
        help="The outgoing server's send limit is reached: sending continues then.",
    )
    civimail_wait_note = fields.Char(string="Send limit", compute="_compute_civimail_wait_note")
    civimail_total = fields.Integer(string="Recipients", compute="_compute_civimail_counts")
    civimail_done = fields.Integer(string="Processed", compute="_compute_civimail_counts")
    civimail_sent = fields.Integer(string="Sent (CiviMail)", compute="_compute_civimail_counts")
    civimail_failed = fields.Integer(string="Failed (CiviMail)", compute="_compute_civimail_counts")
    civimail_bounced = fields.Integer(
        string="Bounced (CiviMail)", compute="_compute_civimail_counts"
    )
    civimail_skipped = fields.Integer(string="Skipped", compute="_compute_civimail_counts")
    civimail_replied = fields.Integer(
        string="Replied (CiviMail)", compute="_compute_civimail_counts")
    civimail_on_hold = fields.Integer(string="On hold", compute="_compute_civimail_counts")
    civimail_progress = fields.Float(string="Progress", compute="_compute_civimail_counts")
    civimail_delivered_rate = fields.Float(
        string="Delivered (%)", compute="_compute_civimail_counts")
    civimail_bounced_rate = fields.Float(string="Bounced (%)", compute="_compute_civimail_counts")
    civimail_on_hold_rate = fields.Float(string="On hold (%)", compute="_compute_civimail_counts")
    civimail_bounce_report_ids = fields.One2many(
        "civimail.mailing.report", "mailing_id", string="Bounces by type",
        domain=[("outcome", "=", "bounced")],
    )

    def _civimail_company(self):
        """The company a mailing sends for: its responsible's, like its outgoing server.

        Email Marketing has no company on mailings; the responsible user's
        company decides which bounce account signs its return addresses.
        """
        self.ensure_one()
        return self.user_id.company_id or self.env.company

    def _civimail_owned(self):
        """The mailings CiviMail sends: all email mailings."""
        return self.filtered(lambda mailing: mailing.mailing_type == "mail")

    @api.depends("state", "civimail_paused")
    def _compute_civimail_state(self):
        for mailing in self:
            paused = mailing.civimail_paused and mailing.state in ("in_queue", "sending")
            mailing.civimail_state = "paused" if paused else mailing.state

    @api.depends("civimail_wait_until")
    @api.depends_context("tz")
    def _compute_civimail_wait_note(self):
        now = fields.Datetime.now()
        try:
            zone = pytz.timezone(self.env.context.get("tz") or self.env.user.tz or "UTC")
        except pytz.UnknownTimeZoneError:
            zone = pytz.utc
        for mailing in self:
            until = mailing.civimail_wait_until
            if not until or until <= now or mailing.state not in ("in_queue", "sending"):
                mailing.civimail_wait_note = False
                continue
            # The time of day in the user's zone, with the date when not today.
            local = tools.format_datetime(self.env, until, tz=zone.zone, dt_format="HH:mm")
            local_date = pytz.utc.localize(until).astimezone(zone).date()
            if local_date != pytz.utc.localize(now).astimezone(zone).date():
                local = f"{tools.format_date(self.env, local_date)} {local}"
            mailing.civimail_wait_note = self.env._(
                "Waiting for send limit until %(time)s", time=local)

    @api.depends("mailing_trace_ids.trace_status")
    def _compute_civimail_counts(self):
        groups = self.env["mailing.trace"].sudo()._read_group(
            [("mass_mailing_id", "in", self.ids)],
            ["mass_mailing_id", "trace_status", "failure_type"], ["__count"],
        )
        counts = {}
        for mailing, status, failure_type, count in groups:
            by_status = counts.setdefault(mailing.id, defaultdict(int))
            by_status[status] += count
            if status == "cancel" and failure_type == "civimail_hold":
                by_status["on_hold"] += count
        for mailing in self:
            by_status = counts.get(mailing.id, defaultdict(int))
            total = sum(count for status, count in by_status.items() if status != "on_hold")
            waiting = by_status["outgoing"] + by_status["process"]
            mailing.civimail_total = total
            mailing.civimail_done = total - waiting
            mailing.civimail_sent = sum(by_status[status] for status in SENT_STATUSES)
            mailing.civimail_failed = by_status["error"]
            mailing.civimail_bounced = by_status["bounce"]
            mailing.civimail_skipped = by_status["cancel"]
            mailing.civimail_replied = by_status["reply"]
            mailing.civimail_on_hold = by_status["on_hold"]
            # Ratios, as the form's percentage widget shows them; of the
            # intended recipients, as CiviCRM's mailing report counts.
            mailing.civimail_progress = (total - waiting) / total if total else 0.0
            mailing.civimail_delivered_rate = mailing.civimail_sent / total if total else 0.0
            mailing.civimail_bounced_rate = by_status["bounce"] / total if total else 0.0
            mailing.civimail_on_hold_rate = by_status["on_hold"] / total if total else 0.0

    # ------------------------------------------------------------------
    # Keeping the host's queue away from CiviMail's mailings
    # ------------------------------------------------------------------
    @api.model
    def _process_mass_mailing_queue(self):
        return super(
            MailingMailing, self.with_context(civimail_host_queue=True)
        )._process_mass_mailing_queue()

    @api.model
    def _search(self, domain, *args, **kwargs):
        # Only the host queue's own search (mailings in queue or sending)
        # loses the email mailings; its statistics search is left alone.
        if self.env.context.get("civimail_host_queue") and any(
            isinstance(leaf, (list, tuple)) and tuple(leaf[:2]) == ("state", "in")
            and "in_queue" in leaf[2]
            for leaf in domain
        ):
            domain = expression.AND([domain, [("mailing_type", "!=", "mail")]])
        return super()._search(domain, *args, **kwargs)

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------
    def action_put_in_queue(self):
        self.check_access("write")
        for mailing in self._civimail_owned():
            mailing._civimail_check_ready()
        result = super().action_put_in_queue()
        owned = self._civimail_owned()
        if owned:
            owned.write({"civimail_paused": False, "civimail_message": False})
            self.env.ref("civimail_addon.ir_cron_civimail_send_mailings")._trigger(
                date or fields.Datetime.now() for date in owned.mapped("schedule_date")
            )
        return result

    def action_civimail_view_bounces(self):
        """The bounces of this mailing, by type."""
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_bounce_action")
        action["domain"] = [("mailing_id", "=", self.id)]
        action["context"] = {"search_default_group_by_type": True}
        return action

    def action_civimail_pause(self):
        self.check_access("write")
        self.write({"civimail_paused": True})

    def action_civimail_resume(self):
        self.check_access("write")
        self.write({"civimail_paused": False, "civimail_message": False})
        self.env.ref("civimail_addon.ir_cron_civimail_send_mailings")._trigger()

    def action_cancel(self):
        # Recipients of the mailings are canceled through sudo below.
        self.check_access("write")
        sending = self._civimail_owned().filtered(lambda m: m.state == "sending")
        if sending:
            # Recipients not yet claimed are skipped; a worker finishes its batch.
            traces = self.env["mailing.trace"].sudo().search([
                ("mass_mailing_id", "in", sending.ids), ("trace_status", "=", "outgoing"),
            ])
            traces.write({
                "trace_status": "cancel",
                "failure_reason": self.env._("Mailing canceled before this recipient was sent."),
            })
            sending.write({"state": "done", "civimail_paused": False,
                           "sent_date": fields.Datetime.now()})
        return super(MailingMailing, self - sending).action_cancel()

    # ------------------------------------------------------------------
    # Settings and checks before sending
    # ------------------------------------------------------------------
    @api.model
    def _civimail_delivery_mode(self):
        mode = self.env["ir.config_parameter"].sudo().get_param(DELIVERY_MODE_PARAM, "send")
        return mode if mode in dict(DELIVERY_MODES) else "send"

    @api.model
    def _civimail_int_param(self, key, default):
        try:
            return int(self.env["ir.config_parameter"].sudo().get_param(key, default))
        except ValueError:
            return default

    @api.model
    def _civimail_send_settings(self):
        """(recipients per batch, retry policy, test address) of the sending job."""
        policy = RetryPolicy(
            max_attempts=self._civimail_int_param(MAX_ATTEMPTS_PARAM, DEFAULT_MAX_ATTEMPTS),
            base=self._civimail_int_param(RETRY_DELAY_PARAM, DEFAULT_RETRY_DELAY),
        )
        test_address = tools.email_normalize(
            self.env["ir.config_parameter"].sudo().get_param(TEST_ADDRESS_PARAM) or "")
        return (max(1, self._civimail_int_param(BATCH_SIZE_PARAM, DEFAULT_BATCH_SIZE)),
                policy, test_address)

    def _civimail_check_ready(self):
        """Raise, naming the setting to fill, when this mailing cannot be sent."""
        self.ensure_one()
        mode = self._civimail_delivery_mode()
        if mode == "disabled":
            raise UserError(self.env._(
                "CiviMail delivery is disabled: no mailing can start. Change “Delivery mode” in "
                "Email Marketing > Configuration > Settings > CiviMail."
            ))
        if mode == "test" and not tools.email_normalize(
            self.env["ir.config_parameter"].sudo().get_param(TEST_ADDRESS_PARAM) or ""
        ):
            raise UserError(self.env._(
                "CiviMail is in test mode but has no test address: fill “Test address” in "
                "Email Marketing > Configuration > Settings > CiviMail."
            ))
        if not tools.email_normalize(self.email_from or ""):
            raise UserError(self.env._(
                "The mailing “%s” has no valid From address: fill its “Send From” field.",
                self.subject,
            ))
        company = self._civimail_company()
        if not self.env["civimail.mail.account"]._default_bounce_account(company):
            raise UserError(self.env._(
                "%(company)s has no default bounce account, which gives mailings their return "
                "address: create one in Email Marketing > Configuration > CiviMail > Mail "
                "Accounts (Used for: Bounce processing, with its local part and email domain).",
                company=company.name,
            ))

    def _civimail_check_size(self, size, server):
        """Raise when a message of ``size`` bytes exceeds ``server``'s maximum."""
        maximum = (server.civimail_max_size_kb or 0) * 1024 if server else 0
        if maximum and size > maximum:
            raise UserError(self.env._(
                "The messages of “%(mailing)s” would be %(size)s kB, %(excess)s kB more than "
                "the %(maximum)s kB the outgoing server “%(server)s” accepts (its “Maximum "
                "message size”). Make the mailing or its attachments smaller.",
                mailing=self.subject, size=-(-size // 1024), excess=-(-(size - maximum) // 1024),
                maximum=server.civimail_max_size_kb, server=server.name,
            ))

    # ------------------------------------------------------------------
    # The job
    # ------------------------------------------------------------------
    @api.model
    def _civimail_job_send(self, mailings=None):
        """Job runner of "Send Scheduled Mailings": start due mailings, send their recipients."""
        mode = self._civimail_delivery_mode()
        if mode == "disabled":
            held = self.search_count([("state", "in", ("in_queue", "sending")),
                                      ("mailing_type", "=", "mail"),
                                      ("civimail_paused", "=", False)], limit=1)
            # Said at each run while mailings wait; a scheduled run with none leaves no line.
            return {"processed": 0, "idle": not held, "message": fact("send_disabled")}
        run = MailingSendRun(self.sudo(), mode)
        try:
            return run.run(mailings)
        finally:
            run.close()

    def _civimail_recipients(self, res_ids):
        """{res_id: email} of the records, as the host's composer finds them."""
        self.ensure_one()
        records = self.env[self.mailing_model_real].browse(res_ids)
        defaults = records._message_get_default_recipients()
        partner_ids = {
            pid for values in defaults.values() for pid in values.get("partner_ids") or ()
        }
        partner_emails = dict(
            self.env["res.partner"].browse(partner_ids).mapped(lambda p: (p.id, p.email))
        ) if partner_ids else {}
        emails = {}
        for res_id in res_ids:
            values = defaults.get(res_id, {})
            found = tools.mail.email_split_and_format(values.get("email_to")) or [
                partner_emails[pid] for pid in values.get("partner_ids") or ()
                if partner_emails.get(pid)
            ]
            emails[res_id] = found[0] if found else values.get("email_to") or ""
        return emails

    def _civimail_start(self):
        """Create this mailing's traces: one outgoing per recipient, skipped ones canceled.

        Returns the number of recipients skipped (canceled traces).
        Runs once per mailing, the mailing's row locked by the caller. Works by
        chunks of recipients, forgetting each chunk's records once its traces
        exist, so that memory does not grow with the number of recipients
        (but for the set of addresses already seen, to skip duplicates).
        """
        self.ensure_one()
        res_ids = self._get_remaining_recipients()
        seen = {tools.email_normalize(email) for email in self._get_seen_list()}
        Trace = self.env["mailing.trace"].sudo()
        skipped = 0
        for chunk in tools.split_every(START_CHUNK, res_ids, list):
            emails = self._civimail_recipients(chunk)
            normalized = {res_id: tools.email_normalize(email) for res_id, email in emails.items()}
            on_hold = self.env["civimail.bounce"]._emails_on_hold(
                {email for email in normalized.values() if email}
            )
            values = []
            for res_id in chunk:
                email, email_normalized = emails[res_id], normalized[res_id]
                failure = False
                if not email:
                    failure = "mail_email_missing"
                elif not email_normalized:
                    failure = "mail_email_invalid"
                elif email_normalized in on_hold:
                    failure = "civimail_hold"
                elif email_normalized in seen:
                    failure = "mail_dup"
                seen.add(email_normalized)
                skipped += bool(failure)
                values.append({
                    "mass_mailing_id": self.id,
                    "model": self.mailing_model_real,
                    "res_id": res_id,
                    "email": email,
                    "trace_status": "cancel" if failure else "outgoing",
                    "failure_type": failure,
                })
            Trace.create(values)
            self.env.invalidate_all()  # flushes, then forgets the chunk's records
        self.write({"state": "sending", "civimail_message": False})
        return skipped

    def _civimail_composer(self):
        """The host's mass-mail composer for this mailing, made by the host's own sending.

        ``_action_send_mail`` builds it (as the responsible user: the author
        of the messages) and would then send with it; the composer's
        ``_action_send_mail`` hands it back here instead (see
        ``mail.compose.message``). It runs on the recipients still waiting,
        as the host's on the remaining ones. Its attachments are dropped: the
        host's composer would copy them for each recipient, the job encodes
        the mailing's own once (``mail.mail._civimail_mailing_context``).
        """
        self.ensure_one()
        res_ids = self.env["mailing.trace"].search_fetch(
            [("mass_mailing_id", "=", self.id), ("trace_status", "in", ("outgoing", "process"))],
            ["res_id"], order="id").mapped("res_id")
        built = []
        with contextlib.suppress(ComposerBuilt):
            self.with_user(self.user_id or self.env.user).sudo().with_context(
                civimail_composer_built=built,
            )._action_send_mail(res_ids)
        (composer,) = built
        composer.attachment_ids = [Command.clear()]
        # Its context, but for the recipients' ids (stored on it; a long list
        # hashed each time the rendering derives an environment) and the hook.
        context = {key: value for key, value in composer.env.context.items()
                   if key not in ("active_ids", "civimail_composer_built")}
        return composer.with_env(composer.env(context={**context, "civimail_sending": True}))

    def _civimail_route(self):
        """(outgoing server, SMTP sender, bounce account, VERP codec) of the messages."""
        self.ensure_one()
        server, smtp_from = self.env["ir.mail_server"]._civimail_server_for(self)
        account = self.env["civimail.mail.account"]._default_bounce_account(
            self._civimail_company())
        return server, smtp_from, account, account._verp_codec()

    def _civimail_first_message_size(self):
        """Refuse this mailing when its first recipient's message exceeds its server's maximum."""
        self.ensure_one()
        trace = self.env["mailing.trace"].search(
            [("mass_mailing_id", "=", self.id), ("trace_status", "=", "outgoing")],
            limit=1, order="id")
        if not trace:
            return
        route = self._civimail_route()
        server = route[0]
        if not server or not server.civimail_max_size_kb:
            return
        composer = self._civimail_composer()
        values = composer._prepare_mail_values([trace.res_id])[trace.res_id]
        MailMail = self.env["mail.mail"]
        built = MailMail._civimail_build_message(
            self, trace, values, route, MailMail._civimail_mailing_context(self, "send"))
        if not isinstance(built, Failure):
            self._civimail_check_size(len(built[2]), server)

    def _civimail_finish(self):
        """Mark this mailing sent once no recipient waits: True when it did."""
        self.ensure_one()
        self.invalidate_recordset()
        if self.state != "sending":
            return False
        waiting = self.env["mailing.trace"].search_count([
            ("mass_mailing_id", "=", self.id),
            ("trace_status", "in", ("outgoing", "process")),
        ])
        if waiting:
            return False
        self.write({
            "state": "done",
            "sent_date": fields.Datetime.now(),
            "kpi_mail_required": not self.sent_date,
            "civimail_wait_until": False,
        })
        return True

