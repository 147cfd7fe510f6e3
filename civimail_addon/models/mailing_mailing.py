import ast
import base64
import contextlib
import logging
import random
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytz
import werkzeug.urls
from odoo import Command, api, fields, models, sql_db, tools
from odoo.addons.mail.models.mail_mail import _UNFOLLOW_REGEX
from odoo.exceptions import UserError
from odoo.osv import expression
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from ..engine.sending import (
    PERMANENT,
    SENT,
    Delivery,
    Headers,
    Outbox,
    Outgoing,
    RetryPolicy,
    assemble,
    attachment_part,
    fill_opt_out,
    list_unsubscribe,
    message_date,
    provider_message_id,
)
from ..engine.verp import BOUNCE, OPT_OUT, REPLY, UNSUBSCRIBE
from .stored_messages import fact

_logger = logging.getLogger(__name__)

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
START_WAIT = 300  # seconds a worker waits for another one starting a mailing
START_CHUNK = 1000  # recipients whose traces are created at once

# First key of the advisory locks a worker holds while it has claimed traces
# (the second is its claim number): a claim whose lock nobody holds is orphaned.
CLAIM_LOCK_KEY = 0x43_69_4D  # "CiM"

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
        worker = _Worker(self.sudo(), mode)
        try:
            return worker.run(mailings)
        finally:
            worker.close()

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
        """The host's mass-mail composer for this mailing, as its own sending builds it."""
        self.ensure_one()
        context_user = self.user_id or self.write_uid or self.env.user
        mailing = self.with_context(**self.env["res.users"].with_user(context_user).context_get())
        values = {
            "auto_delete": True,
            "author_id": (self.user_id.partner_id or self.env.user.partner_id).id,
            # No attachments: the host's composer would copy them for each
            # recipient; the job encodes the mailing's own once (see _Worker).
            "body": mailing._prepend_preview(mailing.body_html, mailing.preview),
            "composition_mode": "mass_mail",
            "email_from": mailing.email_from,
            "mail_server_id": mailing.mail_server_id.id,
            "mailing_list_ids": [Command.link(m.id) for m in mailing.contact_list_ids],
            "mass_mailing_id": mailing.id,
            "model": mailing.mailing_model_real,
            "record_name": False,
            "reply_to_force_new": mailing.reply_to_mode == "new",
            "subject": mailing.subject,
            "template_id": False,
        }
        if mailing.reply_to_mode == "new":
            values["reply_to"] = mailing.reply_to
        return self.env["mail.compose.message"].with_context(
            active_ids=[], default_composition_mode="mass_mail",
            civimail_sending=True, **mailing._get_mass_mailing_context(),
        ).create(values)


class _Worker:
    """One run of the sending job in one process.

    Crash safety: a worker holds an advisory lock named by its claim number
    for its whole run. It claims traces in committed batches (``process``,
    with its number), and records each accepted message on a connection of
    its own, committed before the next message can be accepted (before its
    DATA), so a kill loses at most the transaction in flight. Traces left
    ``process`` by a worker whose lock is gone are put back in the queue by
    the next run.

    Speed: a batch is rendered by the host's composer in one go, each message
    written straight to bytes (``engine.sending.assemble``) from what the host
    would put in it, and sent by the outbox's thread while the next batch is
    rendered; one SMTP transaction is in flight at a time.

    Concurrency: outside tests the worker's transactions run in READ
    COMMITTED, like any queue consumer. Its traces are its own by claim, and
    the rows workers share (mailing state, server send counters) are locked or
    updated in place; under Odoo's REPEATABLE READ a row another worker
    committed meanwhile would abort the run with a serialization failure.
    """

    def __init__(self, env_model, mode):
        self.Mailing = env_model
        self.env = env_model.env
        self.mode = mode
        self.testing = getattr(threading.current_thread(), "testing", False)
        self.claim = random.randint(1, 2**31 - 1)  # noqa: S311 - an id, not a secret
        self.journal = self.env.cr if self.testing else self.env.registry.cursor()
        # Outside tests the outbox's thread records each accepted message on a
        # connection of its own, asynchronous: the statement (committing by
        # itself) runs while the next message's envelope is sent, and is done
        # before that message's DATA (see Outbox).
        self.marks = None if self.testing else _Marks(self.env.cr.dbname)
        if not self.testing:
            self.journal.connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
            # Losing the last commits matters only if PostgreSQL itself crashes.
            self.journal.execute("SET synchronous_commit TO OFF")
        self.journal.execute("SELECT pg_advisory_lock(%s, %s)", [CLAIM_LOCK_KEY, self.claim])
        self.outbox = Outbox(
            connect=self.connect_elsewhere if self.marks else self.connect_here,
            accepted=self.mark_sent,
            threaded=not self.testing,
            settle=self.marks.wait if self.marks else None,
        )
        self.profiles = {}  # route -> what the host reads of its SMTP session
        self.contexts = {}  # mailing id -> what all its messages share
        self.host_rendering = set()  # mailings whose messages the host prepares itself
        self.pending = None  # the batch on the wire
        self.counts = {"sent": 0, "failed": 0, "bounced": 0, "skipped": 0, "retry": 0}
        self.started = self.finished = 0  # mailings started, mailings done
        self.notes = []
        self.batch_size = max(1, self.Mailing._civimail_int_param(
            BATCH_SIZE_PARAM, DEFAULT_BATCH_SIZE))
        self.policy = RetryPolicy(
            max_attempts=self.Mailing._civimail_int_param(MAX_ATTEMPTS_PARAM, DEFAULT_MAX_ATTEMPTS),
            base=self.Mailing._civimail_int_param(RETRY_DELAY_PARAM, DEFAULT_RETRY_DELAY),
        )
        params = self.env["ir.config_parameter"].sudo()
        self.test_address = tools.email_normalize(params.get_param(TEST_ADDRESS_PARAM) or "")

    def close(self):
        self.outbox.close()
        self.journal.execute("SELECT pg_advisory_unlock(%s, %s)", [CLAIM_LOCK_KEY, self.claim])
        if not self.testing:
            self.journal.commit()
            self.journal.close()
            self.marks.close()

    def commit(self):
        """Commit, and run the next transaction in READ COMMITTED (see the class)."""
        if not self.testing:
            self.env.cr.commit()  # pylint: disable=invalid-commit
            self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")

    def journal_commit(self):
        if not self.testing:
            self.journal.commit()  # pylint: disable=invalid-commit

    # -- the run -----------------------------------------------------------------
    def run(self, mailings=None):
        self.commit()  # nothing to keep: switches to READ COMMITTED
        self.recover()
        self.start_due(mailings)
        domain = [("state", "=", "sending"), ("mailing_type", "=", "mail"),
                  ("civimail_paused", "=", False)]
        if mailings is not None:
            domain.append(("id", "in", mailings.ids))
        for mailing in self.Mailing.search(domain, order="id"):
            try:
                self.send_mailing(mailing)
            except UserError as error:
                if not self.testing:
                    self.env.cr.rollback()
                mailing.write({"civimail_message": error.args[0], "civimail_paused": True})
                self.notes.append(fact(
                    "send_mailing_stopped", mailing=mailing.subject, error=error.args[0]))
                self.commit()
            self.finish(mailing)
        counts = self.counts
        if not (any(counts.values()) or self.notes or self.started or self.finished):
            # Nothing due, paused, or waiting for a send limit: a scheduled
            # run leaves no line (see civimail.job.log._run_job).
            return {"idle": True, "message": fact("send_nothing_due")}
        return {"processed": counts["sent"], "failed": counts["failed"] + len(self.notes),
                "message": [fact("send_done", **counts), *self.notes]}

    def recover(self):
        """Put back in the queue the traces claimed by workers that died."""
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            "SELECT DISTINCT civimail_claim FROM mailing_trace WHERE trace_status = 'process' "
            "AND civimail_claim IS NOT NULL AND civimail_claim != %s",
            [self.claim],
        )
        for (claim,) in cr.fetchall():
            # Held by any session (this one included) means its worker is alive.
            cr.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = %s AND objid = %s AND objsubid = 2 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                [CLAIM_LOCK_KEY, claim],
            )
            if cr.fetchone():
                continue
            cr.execute(
                "UPDATE mailing_trace SET trace_status = 'outgoing', civimail_claim = NULL "
                "WHERE trace_status = 'process' AND civimail_claim = %s",
                [claim],
            )
            _logger.info("CiviMail: %s recipients of a stopped worker back in queue", cr.rowcount)
        self.env["mailing.trace"].invalidate_model()
        self.commit()

    def start_due(self, mailings):
        domain = [
            ("state", "=", "in_queue"), ("mailing_type", "=", "mail"),
            "|", ("schedule_date", "<=", fields.Datetime.now()), ("schedule_date", "=", False),
        ]
        if mailings is not None:
            domain.append(("id", "in", mailings.ids))
        for mailing in self.Mailing.search(domain, order="id"):
            cr = self.env.cr
            # One worker starts a mailing; the others wait for it, then help send it.
            self.commit()
            cr.execute("SELECT state FROM mailing_mailing WHERE id = %s FOR UPDATE SKIP LOCKED",
                       [mailing.id])
            row = cr.fetchone() or self.wait_for_start(mailing)
            if not row or row[0] != "in_queue":
                self.commit()
                continue
            mailing.invalidate_recordset()
            try:
                mailing._civimail_check_ready()
                skipped = mailing._civimail_start()
                self.check_size(mailing)
                self.counts["skipped"] += skipped
                self.started += 1
            except UserError as error:
                if not self.testing:
                    cr.rollback()
                mailing.write({"state": "draft", "civimail_message": error.args[0]})
                self.notes.append(fact(
                    "send_mailing_stopped", mailing=mailing.subject, error=error.args[0]))
            self.commit()

    def wait_for_start(self, mailing):
        """Wait while another worker starts ``mailing`` (it holds the row): its row, then locked.

        A few seconds for a large mailing, so that this worker helps sending
        it instead of finding nothing to do; None after START_WAIT seconds.
        """
        cr = self.env.cr
        try:
            cr.execute("SELECT set_config('lock_timeout', %s, true)", [f"{START_WAIT}s"])
            cr.execute("SELECT state FROM mailing_mailing WHERE id = %s FOR UPDATE",
                       [mailing.id], log_exceptions=False)
            return cr.fetchone()
        except psycopg2.errors.LockNotAvailable:
            cr.rollback()
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            return None

    def check_size(self, mailing):
        """Render and build the first recipient's message; refuse an oversized mailing."""
        trace = self.env["mailing.trace"].search(
            [("mass_mailing_id", "=", mailing.id), ("trace_status", "=", "outgoing")],
            limit=1, order="id")
        if not trace:
            return
        server, smtp_from = self.server_for(mailing)
        if not server or not server.civimail_max_size_kb:
            return
        composer = mailing._civimail_composer()
        values = composer._prepare_mail_values([trace.res_id])[trace.res_id]
        built = self.build(mailing, trace, values, self.route(mailing, server, smtp_from))
        if not isinstance(built, _Failure):
            mailing._civimail_check_size(len(built[2]), server)

    def finish(self, mailing):
        """Mark the mailing done once no recipient waits."""
        mailing.invalidate_recordset()
        if mailing.state != "sending":
            return
        waiting = self.env["mailing.trace"].search_count([
            ("mass_mailing_id", "=", mailing.id),
            ("trace_status", "in", ("outgoing", "process")),
        ])
        if not waiting:
            mailing.write({
                "state": "done",
                "sent_date": fields.Datetime.now(),
                "kpi_mail_required": not mailing.sent_date,
                "civimail_wait_until": False,
            })
            self.finished += 1
            self.commit()

    # -- one mailing ---------------------------------------------------------------
    def server_for(self, mailing):
        """The host's outgoing server for this mailing, chosen as the host chooses it."""
        IrMailServer = self.env["ir.mail_server"].sudo()
        if mailing.mail_server_id:
            return mailing.mail_server_id.sudo(), mailing.email_from
        return IrMailServer._find_mail_server(mailing.email_from)

    def route(self, mailing, server, smtp_from):
        """(server, smtp_from, bounce account, VERP codec) of the mailing's messages."""
        account = self.env["civimail.mail.account"]._default_bounce_account(
            mailing._civimail_company())
        return server, smtp_from, account, account._verp_codec()

    def send_mailing(self, mailing):
        mailing._civimail_check_ready()
        server, smtp_from = self.server_for(mailing)
        route = self.route(mailing, server, smtp_from)
        composer = mailing._civimail_composer()
        try:
            while True:
                mailing.invalidate_recordset(["civimail_paused", "state"])
                if mailing.civimail_paused or mailing.state != "sending":
                    break
                traces = self.claim_batch(mailing)
                if not traces:
                    if self.pending is None:
                        break
                    self.collect()  # its temporary failures may be due again
                    continue
                now = fields.Datetime.now()
                if server and self.mode in ("send", "test"):
                    granted, window_end = server._civimail_reserve(self.journal, len(traces), now)
                    self.journal_commit()
                    if granted < len(traces):
                        self.postpone(traces[granted:], window_end, mailing, server)
                        traces = traces[:granted]
                        if not traces:
                            break
                batch = self.prepare_batch(mailing, composer, traces, route)
                self.collect()  # the previous batch, sent meanwhile
                self.dispatch(batch)
            self.collect()
        except Exception:
            self.abandon()
            raise
        finally:
            self.contexts.pop(mailing.id, None)

    def claim_batch(self, mailing):
        self.env.flush_all()  # the outcomes of the previous batch, before raw SQL
        cr = self.env.cr
        cr.execute(
            """
            UPDATE mailing_trace
               SET trace_status = 'process', civimail_claim = %(claim)s,
                   mail_mail_id_int = COALESCE(mail_mail_id_int, nextval('mail_mail_id_seq'))
             WHERE id IN (
                    SELECT id FROM mailing_trace
                     WHERE mass_mailing_id = %(mailing)s AND trace_status = 'outgoing'
                       AND (civimail_next_try IS NULL OR civimail_next_try <= %(now)s)
                  ORDER BY id
                     LIMIT %(limit)s
                       FOR UPDATE SKIP LOCKED)
         RETURNING id
            """,
            {"claim": self.claim, "mailing": mailing.id, "now": fields.Datetime.now(),
             "limit": self.batch_size},
        )
        ids = sorted(row[0] for row in cr.fetchall())
        self.env["mailing.trace"].invalidate_model()
        self.commit()
        return self.env["mailing.trace"].browse(ids)

    def postpone(self, traces, until, mailing, server):
        traces.write({"trace_status": "outgoing", "civimail_claim": 0,
                      "civimail_next_try": until})
        mailing.write({"civimail_wait_until": until})
        _logger.info("CiviMail: mailing %s waits for the send limit of outgoing server %s "
                     "until %s (UTC)", mailing.id, server.name, until)
        self.commit()

    # -- building messages -----------------------------------------------------------
    def prepare_batch(self, mailing, composer, traces, route):
        """Render the claimed ``traces`` with the host's composer and build their messages.

        Returns the batch: the outcomes known already (skipped, failed,
        spooled) and the messages to send.
        """
        server, smtp_from, account, _codec = route
        values_all = composer._prepare_mail_values(traces.mapped("res_id"))
        profile = self.profile(server, smtp_from) if self.mode in ("send", "test") else None
        key = (server.id if server else None, smtp_from)
        outcomes, outgoing, spooled = {}, [], []
        for index, trace in enumerate(traces):
            values = values_all[trace.res_id]
            if values.get("state") == "cancel":  # blocklist, opt-out, ... as the host decides
                outcomes[trace.id] = ("cancel", values.get("failure_type"), None)
                continue
            try:
                built = self.build(mailing, trace, values, route, profile=profile, probe=index == 0)
            except UserError as error:
                outcomes[trace.id] = ("error", "unknown", str(error.args[0]))
                continue
            if isinstance(built, _Failure):
                outcomes[trace.id] = ("error", built.failure_type, built.reason)
                continue
            mail_from, rcpt_to, data = built
            if self.mode == "spool":
                spooled.append({"mailing_id": mailing.id, "trace_id": trace.id,
                                "company_id": account.company_id.id,
                                "mail_from": mail_from, "rcpt_to": ", ".join(rcpt_to),
                                "subject": values.get("subject"), "size": len(data),
                                "raw": base64.b64encode(data)})
                outcomes[trace.id] = (Delivery(SENT), None, None)
                continue
            outgoing.append(Outgoing(trace.id, key, mail_from, rcpt_to, data,
                                     values["message_id"]))
            # Let the outbox's thread take the interpreter now if it waits for
            # it (a server reply came): sooner than Python's 5 ms switch interval.
            time.sleep(0)
        if spooled:
            self.env["civimail.spool"].create(spooled)
        return _Batch(mailing, outcomes, outgoing, server, account)

    def mailing_context(self, mailing):
        """What every message of ``mailing`` shares, computed once: attachments encoded, ..."""
        context = self.contexts.get(mailing.id)
        if context is None:
            attachments = mailing.attachment_ids.sudo().sorted("id")
            context = {
                # As the host attaches the composer's copies of the mailing's files.
                "attachments": tuple(
                    attachment_part(item["name"], item["raw"], item["mimetype"])
                    for item in attachments.read(["name", "raw", "mimetype"])
                    if item["raw"] is not False
                ),
                "base_url": mailing.get_base_url(),
                "links_prefix": werkzeug.urls.url_join(
                    mailing.get_base_url(), f"mailing/{mailing.id}/"),
                "tracking_prefix": werkzeug.urls.url_join(
                    self.env["mail.mail"].get_base_url(), "mail/track/"),
                "alias_domains": {},
                "from": {},
            }
            self.contexts[mailing.id] = context
        return context

    def alias_domain(self, context, alias_domain_id):
        """(bounce address, notifications address) of an alias domain, as the host uses them."""
        if alias_domain_id not in context["alias_domains"]:
            domain = self.env["mail.alias.domain"].sudo().browse(alias_domain_id or [])
            context["alias_domains"][alias_domain_id] = (
                domain.bounce_email or self.env.company.bounce_email,
                domain.default_from_email if domain else False,
            )
        return context["alias_domains"][alias_domain_id]

    def build(self, mailing, trace, values, route, *, profile=None, probe=False):
        """(envelope sender, envelope recipients, bytes) of one trace's message, or a _Failure.

        The message is the one the host would send for this trace: the parts
        its mail.mail would prepare (``outgoing``), the fields its
        ``build_email`` would write, the envelope its ``_prepare_email_message``
        gives (on ``profile``, what it reads of the SMTP session), with the
        VERP return path and CiviMail's headers.
        """
        _server, _smtp_from, _account, codec = route
        context = self.mailing_context(mailing)
        addresses = self.action_addresses(mailing, trace, codec)
        verp = addresses[BOUNCE]
        if mailing.id in self.host_rendering:
            email = self.outgoing_host(mailing, trace, values, route, addresses)
        else:
            email = self.outgoing(mailing, trace, values, addresses, context)
            if probe:
                email = self.check_outgoing(email, mailing, trace, values, route,
                                            addresses=addresses)
        if not email or not email["email_to"]:
            return _Failure("mail_email_missing")
        _bounce, notifications = self.alias_domain(
            context, values.get("record_alias_domain_id"))
        IrMailServer = self.env["ir.mail_server"].sudo().with_context(
            send_validated_to=email["email_to_normalized"], domain_bounce_address=verp,
            **({"domain_notifications_email": notifications} if notifications else {}),
        )
        # As the host's mail queue, then its build_email, would write them.
        email_from = self.header_from(context, email["email_from"]) \
            or notifications or IrMailServer._get_default_from_address()
        if not email_from:
            return _Failure("mail_from_missing", IrMailServer.NO_FOUND_FROM)
        headers = Headers([("Message-Id", email["message_id"])])
        if email["references"]:
            headers["References"] = email["references"]
        headers["Subject"] = email["subject"] or ""
        headers["From"] = email_from
        headers["Reply-To"] = email["reply_to"] or email_from
        headers["To"] = ", ".join(email["email_to"])
        if email["email_cc"]:
            headers["Cc"] = ", ".join(email["email_cc"])
        headers["Date"] = message_date()
        for name, value in email["headers"].items():
            headers[name] = value
        try:
            _from, rcpt_to, headers = IrMailServer._prepare_email_message(headers, profile)
        except AssertionError as error:
            return _envelope_failure(IrMailServer, error, email)
        if self.mode == "test":
            headers["X-CiviMail-Original-To"] = ", ".join(rcpt_to)
            rcpt_to = [self.test_address]
        data = assemble(headers.items(), email["body_alternative"], email["body"],
                        context["attachments"])
        # The envelope sender is always the VERP address: bounces name the trace.
        return verp, rcpt_to, data

    @staticmethod
    def header_from(context, email_from):
        """The From the host's mail queue writes for ``email_from`` (the same for a mailing)."""
        cache = context["from"]
        if email_from not in cache:
            emails_from = tools.mail.email_split_and_format_normalize(email_from)
            cache[email_from] = emails_from[0] if emails_from else email_from
        return cache[email_from]

    @staticmethod
    def action_addresses(mailing, trace, codec):
        """{action: signed address} of a trace's message: bounce, unsubscribe, opt-out,
        and reply when the mailing tracks replies (as CiviCRM's VERP addresses)."""
        recipient = tools.email_normalize(trace.email) or trace.email or ""
        actions = (BOUNCE, UNSUBSCRIBE, OPT_OUT, REPLY) if mailing.civimail_track_replies \
            else (BOUNCE, UNSUBSCRIBE, OPT_OUT)
        return {action: codec.build(trace.id, recipient, action) for action in actions}

    def outgoing(self, mailing, trace, values, addresses, context):
        """What the host's mail.mail would prepare for this trace, without creating one.

        As ``mail.mail._prepare_outgoing_list`` (mail, mass_mailing and this
        module's overrides) does for the first recipient of the mail: body
        with tracked links naming the trace and the open-tracking pixel, its
        text alternative, recipient, the mailing's unsubscribe and view links,
        headers. ``check_outgoing`` compares it with the host's own.
        """
        body = values.get("body_html") or ""
        body = "" if tools.is_html_empty(body) else \
            self.env["mail.render.mixin"]._replace_local_links(body)
        if body:
            wrapper = body.__class__
            for href, url, *_rest in set(re.findall(tools.mail.URL_REGEX, body)):
                parsed = werkzeug.urls.url_parse(url, scheme="http")
                if parsed.scheme.startswith("http") and parsed.path.startswith("/r/"):
                    body = body.replace(wrapper(href),
                                        wrapper(href.replace(url, f"{url}/m/{trace.id}")))
            mail_id = trace.mail_mail_id_int
            token = self.env["mail.mail"]._generate_mail_recipient_token(mail_id)
            # url_join(base, "mail/track/<id>/<token>/blank.gif"), its base joined once
            tracking_url = f"{context['tracking_prefix']}{mail_id}/{token}/blank.gif"
            body = tools.mail.append_content_to_html(
                body, f'<img src="{tracking_url}"/>', plaintext=False)
        try:
            headers = ast.literal_eval(values["headers"]) if values.get("headers") else {}
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            headers = {}
        headers.setdefault("Return-Path", self.alias_domain(
            context, values.get("record_alias_domain_id"))[0])
        email_to, email_to_normalized, email_cc = [], [], []
        if values.get("email_to"):
            email_to = tools.mail.email_split_and_format_normalize(values["email_to"])
            email_to_normalized = tools.mail.email_normalize_all(values["email_to"])
        if values.get("email_cc"):
            email_cc = tools.mail.email_split_and_format_normalize(values["email_cc"])
            email_to_normalized += tools.mail.email_normalize_all(values["email_cc"])
        elif not email_to:
            partner_ids = [command[1] for command in values.get("recipient_ids") or ()
                           if command[0] == Command.LINK]
            if not partner_ids:
                return None
            partner = self.env["res.partner"].sudo().browse(partner_ids[0])
            email_to_normalized = tools.mail.email_normalize_all(partner.email)
            email_to = [tools.formataddr((partner.name or "", email or "False"))
                        for email in email_to_normalized or [partner.email]]
        body = re.sub(_UNFOLLOW_REGEX, "", body)
        body_alternative = tools.html2plaintext(body)
        if email_to:
            email_for_links = tools.email_normalize(email_to[0], strict=False) or email_to[0]
            links = self.recipient_links(mailing, values["res_id"], email_for_links, context)
            base_url = context["base_url"]
            if not tools.is_html_empty(body):
                if f"{base_url}/unsubscribe_from_list" in body \
                        and not self.env.context.get("mailing_test_mail"):
                    body = body.replace(f"{base_url}/unsubscribe_from_list",
                                        links["confirm_unsubscribe"])
                if f"{base_url}/view" in body:
                    body = body.replace(f"{base_url}/view", links["view"])
            headers.update({
                "List-Unsubscribe": f"<{links['unsubscribe_oneclick']}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Precedence": "list",
                "X-Auto-Response-Suppress": "OOF",
            })
        email = {
            "body": body,
            "body_alternative": body_alternative,
            "email_cc": email_cc,
            "email_from": values.get("email_from"),
            "email_to": email_to,
            "email_to_normalized": email_to_normalized,
            "headers": headers,
            "message_id": values.get("message_id"),
            "references": values.get("references"),
            "reply_to": values.get("reply_to"),
            "subject": values.get("subject"),
        }
        self.civimail_headers(mailing, trace, email, addresses)
        return email

    @staticmethod
    def recipient_links(mailing, res_id, email_to, context):
        """The recipient's unsubscribe, one-click unsubscribe and view links.

        As the host's ``_get_unsubscribe_url`` and siblings write them, from
        one token (the three compute the same); ``check_outgoing`` compares.
        """
        params = werkzeug.urls.url_encode({
            "document_id": res_id,
            "email": email_to,
            "hash_token": mailing._generate_mailing_recipient_token(res_id, email_to),
        })
        # url_join(base, "mailing/<id>/<route>?..."), its base joined once
        return {route: f"{context['links_prefix']}{route}?{params}"
                for route in ("confirm_unsubscribe", "unsubscribe_oneclick", "view")}

    def outgoing_host(self, mailing, trace, values, route, addresses):
        """What the host's mail.mail prepares for this trace: the same as ``outgoing``, slower."""
        server = route[0]
        MailMail = self.env["mail.mail"].sudo().with_context(
            civimail_trace_id=trace.id, civimail_mail_id=trace.mail_mail_id_int)
        mail = MailMail.new({**values, "mailing_trace_ids": [Command.set(trace.ids)]})
        email_list = mail._prepare_outgoing_list(mail_server=server)
        if not email_list:
            return None
        email = {key: email_list[0][key] for key in OUTGOING_KEYS}
        email["headers"] = dict(email["headers"])
        self.civimail_headers(mailing, trace, email, addresses)
        return email

    def check_outgoing(self, email, mailing, trace, values, route, *, addresses):
        """``email`` if the host prepares the same for this trace; else the host's, from now on."""
        host = self.outgoing_host(mailing, trace, values, route, addresses)
        if host is None and email is None:
            return None
        differing = [key for key in OUTGOING_KEYS
                     if host is None or email is None or host[key] != email[key]]
        if differing:
            self.host_rendering.add(mailing.id)
            _logger.warning(
                "CiviMail: the host prepares the messages of mailing %s differently (%s): "
                "it prepares them itself from now on, more slowly.",
                mailing.id, ", ".join(differing))
            return host
        return email

    def civimail_headers(self, mailing, trace, email, addresses):
        """The return path, one-click unsubscribe (URL and mailto), the reply address when
        replies are tracked, the opt-out address where the body asks for it, and
        CiviMail's own headers."""
        for part in ("body", "body_alternative"):
            email[part] = fill_opt_out(email[part], addresses[OPT_OUT])
        headers = email["headers"]
        unsubscribe = headers.get("List-Unsubscribe") or ""
        if unsubscribe.startswith("<") and unsubscribe.endswith(">"):
            url = unsubscribe[1:-1]
        else:
            normalized = email["email_to_normalized"]
            url = mailing._get_unsubscribe_oneclick_url(
                normalized[0] if normalized else trace.email, trace.res_id)
        if REPLY in addresses:
            # Replies reach the mailbox Fetch Bounces reads, which forwards them.
            sender = tools.mail.email_split_tuples(email["email_from"] or "")
            email["reply_to"] = tools.formataddr((sender[0][0] if sender else "",
                                                  addresses[REPLY]))
        headers.update({
            "Return-Path": addresses[BOUNCE],
            "List-Unsubscribe": list_unsubscribe(url, addresses[UNSUBSCRIBE]),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-CiviMail-Mailing": str(mailing.id),
            "X-CiviMail-Trace": str(trace.id),
        })

    # -- sending ------------------------------------------------------------------------
    @staticmethod
    def connect(env, route):
        """A new SMTP session of ``route`` (server id, SMTP sender), opened the host's way."""
        server_id, smtp_from = route
        return env["ir.mail_server"].sudo().connect(mail_server_id=server_id, smtp_from=smtp_from)

    def connect_here(self, route):
        return self.connect(self.env, route)

    def connect_elsewhere(self, route):
        """``connect`` from the outbox's thread, on a cursor of its own."""
        with self.env.registry.cursor() as cr:
            return self.connect(self.env(cr=cr), route)

    def profile(self, server, smtp_from):
        """What the host's envelope preparation reads of the route's SMTP session.

        The session is opened here once (then handed to the outbox): its
        ``from_filter`` and ``smtp_from`` decide whether the From is rewritten.
        None while it cannot be opened (the outbox then fails the messages).
        """
        route = (server.id if server else None, smtp_from)
        if route not in self.profiles:
            try:
                session = self.connect(self.env, route)
            except Exception:  # noqa: BLE001 - the outbox tries again and records why
                return None
            if session is None:
                return None
            self.outbox.adopt(route, session)
            self.profiles[route] = SimpleNamespace(
                from_filter=getattr(session, "from_filter", False),
                smtp_from=getattr(session, "smtp_from", False))
        return self.profiles[route]

    def mark_sent(self, outgoing, delivery):
        """Record an accepted message (the outbox calls it before the next one's DATA)."""
        params = [fields.Datetime.now(), outgoing.message_id,
                  provider_message_id(delivery.message) or None, outgoing.key]
        if self.marks:
            self.marks.start(MARK_SENT, params)
        else:
            self.journal.execute(MARK_SENT, params)

    def dispatch(self, batch):
        """Hand the batch's messages to the outbox; their outcomes are collected later."""
        if batch.outgoing:
            self.outbox.send(batch.outgoing)
        self.pending = batch

    def collect(self):
        """Wait for the batch on the wire, and record the outcomes of all its traces."""
        batch, self.pending = self.pending, None
        if batch is None:
            return
        if batch.outgoing:
            for trace_id, delivery in self.outbox.results().items():
                batch.outcomes[trace_id] = (delivery, None, None)
        self.record(batch.mailing, batch.outcomes, batch.server, batch.account)
        # The rendering's records (recipients, ...) are not needed again.
        self.env.invalidate_all()

    def abandon(self):
        """Forget the batch on the wire after an error (its traces go back to the queue later)."""
        batch, self.pending = self.pending, None
        if batch is not None and batch.outgoing:
            with contextlib.suppress(Exception):
                self.outbox.results()

    def record(self, mailing, outcomes, server, account):
        """Write the batch's outcomes ({trace id: (outcome, failure type, reason)}), in bulk."""
        Trace = self.env["mailing.trace"]
        Trace.invalidate_model()
        now = fields.Datetime.now()
        groups = {}
        unused = 0
        for trace_id, (outcome, failure_type, reason) in outcomes.items():
            if outcome == "cancel":
                groups.setdefault(("cancel", failure_type, False), []).append(trace_id)
                self.counts["skipped"] += 1
                unused += 1
            elif outcome == "error":
                groups.setdefault(("error", failure_type, reason or False), []).append(trace_id)
                self.counts["failed"] += 1
                unused += 1
            elif outcome.outcome == SENT:
                self.counts["sent"] += 1
                if self.mode == "spool":
                    groups.setdefault(("sent", False, False), []).append(trace_id)
            elif outcome.outcome == PERMANENT:
                self.counts["bounced"] += 1
                trace = Trace.browse(trace_id)
                trace.write({"civimail_claim": 0, "failure_reason": outcome.response})
                self.env["civimail.bounce"]._record_smtp_refusal(
                    trace, account, outcome.code, outcome.message, outcome.stage)
            else:
                unused += 1
                self.retry_or_fail(Trace.browse(trace_id), outcome, now)
        for (status, failure_type, reason), trace_ids in groups.items():
            values = {"trace_status": status, "failure_type": failure_type,
                      "civimail_claim": 0}
            if status == "sent":
                values["sent_datetime"] = now
            if reason:
                values["failure_reason"] = reason
            Trace.browse(trace_ids).write(values)
        if server and self.mode in ("send", "test"):
            server._civimail_release(self.env.cr, unused, now)
        self.commit()

    def retry_or_fail(self, trace, delivery, now):
        """A temporary failure: try again later, or give up after the last attempt."""
        attempts = trace.civimail_attempts + 1
        if self.policy.gives_up(attempts):
            self.counts["failed"] += 1
            trace.write({
                "trace_status": "error", "failure_type": "mail_smtp",
                "civimail_attempts": attempts, "civimail_claim": 0,
                "failure_reason": self.env._(
                    "Not sent after %(attempts)s attempts; last answer: %(response)s",
                    attempts=attempts, response=delivery.response),
            })
        else:
            self.counts["retry"] += 1
            trace.write({
                "trace_status": "outgoing", "civimail_attempts": attempts,
                "civimail_claim": 0, "failure_reason": delivery.response,
                "civimail_next_try": now + timedelta(seconds=self.policy.delay(attempts)),
            })


MARK_SENT = (
    "UPDATE mailing_trace SET trace_status = 'sent', sent_datetime = %s, civimail_claim = NULL, "
    "failure_type = NULL, failure_reason = NULL, message_id = %s, "
    "civimail_provider_message_id = %s WHERE id = %s"
)


class _Marks:
    """A PostgreSQL connection of the outbox's thread, asynchronous, for the "sent" marks.

    ``start`` sends a statement (it commits by itself: an asynchronous
    connection is in autocommit) and returns at once; ``wait`` waits until it
    is done, raising what it raised.
    """

    def __init__(self, dbname):
        _dbname, info = sql_db.connection_info_for(dbname)
        self.connection = psycopg2.connect(async_=True, **info)
        self._wait()
        self.cursor = self.connection.cursor()
        self.pending = False
        # Losing the last commits matters only if PostgreSQL itself crashes.
        self.start("SET synchronous_commit TO OFF", None)
        self.wait()

    def _wait(self):
        psycopg2.extras.wait_select(self.connection)

    def start(self, query, params):
        self.wait()
        self.cursor.execute(query, params)
        self.pending = True

    def wait(self):
        if self.pending:
            self.pending = False
            self._wait()

    def close(self):
        with contextlib.suppress(psycopg2.Error):
            self.wait()
        self.connection.close()


# What the worker takes of the host's prepared email (``mail.mail._prepare_outgoing_list``).
OUTGOING_KEYS = ("body", "body_alternative", "email_cc", "email_from", "email_to",
                 "email_to_normalized", "headers", "message_id", "references", "reply_to",
                 "subject")


@dataclass
class _Batch:
    """A claimed batch: outcomes known so far ({trace id: ...}) and the messages to send."""

    mailing: object
    outcomes: dict
    outgoing: list
    server: object
    account: object


@dataclass(frozen=True)
class _Failure:
    """Why a trace's message could not be built: a trace failure type and reason."""

    failure_type: str
    reason: str | None = None


def _envelope_failure(IrMailServer, error, email):
    """The trace failure the host's mail queue records for an AssertionError of its own."""
    code = error.args[0] if error.args else ""
    if code == IrMailServer.NO_VALID_RECIPIENT:
        return _Failure("mail_email_invalid" if email["email_to"] else "mail_email_missing")
    if code == IrMailServer.NO_VALID_FROM:
        return _Failure("mail_from_invalid", str(error.args[1]) if len(error.args) > 1 else code)
    if code in (IrMailServer.NO_FOUND_FROM, IrMailServer.NO_FOUND_SMTP_FROM):
        return _Failure("mail_from_missing", code)
    return _Failure("unknown", str(code) or repr(error))
