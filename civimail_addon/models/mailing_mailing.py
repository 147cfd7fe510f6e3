import base64
import logging
import random
import threading
from datetime import timedelta

from odoo import Command, api, fields, models, tools
from odoo.exceptions import UserError
from odoo.osv import expression
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED

from ..engine.sending import (
    PERMANENT,
    SENT,
    Delivery,
    RetryPolicy,
    close_quietly,
    deliver,
    flatten,
    list_unsubscribe,
)

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
    civimail_message = fields.Text(
        string="Sending problem", copy=False, readonly=True,
        help="Why the mailing stopped or waits, as the sending job last saw it.",
    )
    civimail_total = fields.Integer(string="Recipients", compute="_compute_civimail_counts")
    civimail_done = fields.Integer(string="Processed", compute="_compute_civimail_counts")
    civimail_sent = fields.Integer(string="Sent", compute="_compute_civimail_counts")
    civimail_failed = fields.Integer(string="Failed", compute="_compute_civimail_counts")
    civimail_bounced = fields.Integer(string="Bounced", compute="_compute_civimail_counts")
    civimail_skipped = fields.Integer(string="Skipped", compute="_compute_civimail_counts")
    civimail_progress = fields.Float(string="Progress", compute="_compute_civimail_counts")

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

    @api.depends("mailing_trace_ids.trace_status")
    def _compute_civimail_counts(self):
        groups = self.env["mailing.trace"].sudo()._read_group(
            [("mass_mailing_id", "in", self.ids)], ["mass_mailing_id", "trace_status"],
            ["__count"],
        )
        counts = {}
        for mailing, status, count in groups:
            counts.setdefault(mailing.id, {})[status] = count
        for mailing in self:
            by_status = counts.get(mailing.id, {})
            total = sum(by_status.values())
            waiting = by_status.get("outgoing", 0) + by_status.get("process", 0)
            mailing.civimail_total = total
            mailing.civimail_done = total - waiting
            mailing.civimail_sent = sum(by_status.get(s, 0) for s in SENT_STATUSES)
            mailing.civimail_failed = by_status.get("error", 0)
            mailing.civimail_bounced = by_status.get("bounce", 0)
            mailing.civimail_skipped = by_status.get("cancel", 0)
            mailing.civimail_progress = 100.0 * (total - waiting) / total if total else 0.0

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

    def action_civimail_pause(self):
        self.write({"civimail_paused": True})

    def action_civimail_resume(self):
        self.write({"civimail_paused": False, "civimail_message": False})
        self.env.ref("civimail_addon.ir_cron_civimail_send_mailings")._trigger()

    def action_cancel(self):
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
            return {"processed": 0, "message": self.env._(
                "Delivery is disabled (setting “Delivery mode”): nothing was sent.")}
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

        Runs once per mailing, the mailing's row locked by the caller.
        """
        self.ensure_one()
        res_ids = self._get_remaining_recipients()
        emails = self._civimail_recipients(res_ids)
        normalized = {res_id: tools.email_normalize(email) for res_id, email in emails.items()}
        on_hold = self.env["civimail.bounce"]._emails_on_hold(
            {email for email in normalized.values() if email}
        )
        seen = {tools.email_normalize(email) for email in self._get_seen_list()}
        Trace = self.env["mailing.trace"].sudo()
        values = []
        for res_id in res_ids:
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
            values.append({
                "mass_mailing_id": self.id,
                "model": self.mailing_model_real,
                "res_id": res_id,
                "email": email,
                "trace_status": "cancel" if failure else "outgoing",
                "failure_type": failure,
            })
        for batch in tools.split_every(2000, values, list):
            Trace.create(batch)
            Trace.env.invalidate_all()
        self.write({"state": "sending", "civimail_message": False})
        return len(values)

    def _civimail_composer(self):
        """The host's mass-mail composer for this mailing, as its own sending builds it."""
        self.ensure_one()
        context_user = self.user_id or self.write_uid or self.env.user
        mailing = self.with_context(**self.env["res.users"].with_user(context_user).context_get())
        values = {
            "auto_delete": True,
            "author_id": (self.user_id.partner_id or self.env.user.partner_id).id,
            "attachment_ids": [Command.link(a.id) for a in mailing.attachment_ids],
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
    with its number), and records each accepted message on a second cursor
    committed right after the server's reply, so a kill loses at most the
    transaction in flight. Traces left ``process`` by a worker whose lock is
    gone are put back in the queue by the next run.

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
        if not self.testing:
            self.journal.connection.set_isolation_level(ISOLATION_LEVEL_READ_COMMITTED)
            # Losing the last commits matters only if PostgreSQL itself crashes.
            self.journal.execute("SET synchronous_commit TO OFF")
        self.journal.execute("SELECT pg_advisory_lock(%s, %s)", [CLAIM_LOCK_KEY, self.claim])
        self.sessions = {}
        self.counts = {"sent": 0, "failed": 0, "bounced": 0, "skipped": 0, "retry": 0}
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
        for session in self.sessions.values():
            close_quietly(session)
        self.sessions.clear()
        self.journal.execute("SELECT pg_advisory_unlock(%s, %s)", [CLAIM_LOCK_KEY, self.claim])
        if not self.testing:
            self.journal.commit()
            self.journal.close()

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
                self.notes.append(f"{mailing.subject}: {error.args[0]}")
                self.commit()
            self.finish(mailing)
        counts = self.counts
        message = self.env._(
            "%(sent)s sent, %(failed)s failed, %(bounced)s bounced, %(skipped)s skipped, "
            "%(retry)s to retry.",
            **counts,
        )
        if self.notes:
            message += "\n" + "\n".join(self.notes)
        return {"processed": counts["sent"], "failed": counts["failed"] + len(self.notes),
                "message": message}

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
            # One worker starts a mailing; the others skip it, then help send it.
            self.commit()
            cr.execute("SELECT state FROM mailing_mailing WHERE id = %s FOR UPDATE SKIP LOCKED",
                       [mailing.id])
            row = cr.fetchone()
            if not row or row[0] != "in_queue":
                self.commit()
                continue
            mailing.invalidate_recordset()
            try:
                mailing._civimail_check_ready()
                mailing._civimail_start()
                self.check_size(mailing)
            except UserError as error:
                if not self.testing:
                    cr.rollback()
                mailing.write({"state": "draft", "civimail_message": error.args[0]})
                self.notes.append(f"{mailing.subject}: {error.args[0]}")
            self.commit()

    def check_size(self, mailing):
        """Render and build the first recipient's message; refuse an oversized mailing."""
        trace = self.env["mailing.trace"].search(
            [("mass_mailing_id", "=", mailing.id), ("trace_status", "=", "outgoing")],
            limit=1, order="id")
        if not trace:
            return
        server, _smtp_from = self.server_for(mailing)
        if not server or not server.civimail_max_size_kb:
            return
        composer = mailing._civimail_composer()
        values = composer._prepare_mail_values([trace.res_id])[trace.res_id]
        built = self.build(mailing, trace, values, server)
        if built:
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
            })
            self.commit()

    # -- one mailing ---------------------------------------------------------------
    def server_for(self, mailing):
        """The host's outgoing server for this mailing, chosen as the host chooses it."""
        IrMailServer = self.env["ir.mail_server"].sudo()
        if mailing.mail_server_id:
            return mailing.mail_server_id.sudo(), mailing.email_from
        return IrMailServer._find_mail_server(mailing.email_from)

    def send_mailing(self, mailing):
        mailing._civimail_check_ready()
        account = self.env["civimail.mail.account"]._default_bounce_account(
            mailing._civimail_company())
        codec = account._verp_codec()
        server, smtp_from = self.server_for(mailing)
        composer = mailing._civimail_composer()
        while True:
            mailing.invalidate_recordset(["civimail_paused", "state"])
            if mailing.civimail_paused or mailing.state != "sending":
                return
            traces = self.claim_batch(mailing)
            if not traces:
                return
            now = fields.Datetime.now()
            if server and self.mode in ("send", "test"):
                granted, window_end = server._civimail_reserve(self.journal, len(traces), now)
                self.journal_commit()
                if granted < len(traces):
                    self.postpone(traces[granted:], window_end, mailing, server)
                    traces = traces[:granted]
                    if not traces:
                        return
            self.send_batch(mailing, composer, traces, (server, smtp_from, account, codec))

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
        mailing.write({"civimail_message": self.env._(
            "The send limit of the outgoing server “%(server)s” is reached: sending continues "
            "after %(until)s (UTC).", server=server.name, until=fields.Datetime.to_string(until),
        )})
        self.commit()

    def send_batch(self, mailing, composer, traces, route):
        """Render, build and send the claimed ``traces``.

        ``route``: (server, smtp_from, account, codec) of the mailing.
        """
        server, smtp_from, account, codec = route
        res_ids = traces.mapped("res_id")
        values_all = composer._prepare_mail_values(res_ids)
        outcomes = {}  # trace -> (Delivery or failure_type, text)
        spooled = []
        attachments = self.env["ir.attachment"]
        for trace in traces:
            values = values_all[trace.res_id]
            attachments |= self.env["ir.attachment"].browse(
                [command[1] for command in values.get("attachment_ids") or ()
                 if command[0] == Command.LINK]
            ) - mailing.attachment_ids
            if values.get("state") == "cancel":  # blocklist, opt-out, ... as the host decides
                outcomes[trace] = ("cancel", values.get("failure_type"), values["message_id"])
                continue
            try:
                built = self.build(mailing, trace, values, server, codec)
            except UserError as error:
                outcomes[trace] = ("error", "unknown", str(error.args[0]))
                continue
            if not built:
                outcomes[trace] = ("error", "mail_email_invalid", values["message_id"])
                continue
            mail_from, rcpt_to, data = built
            if self.mode == "spool":
                spooled.append({"mailing_id": mailing.id, "trace_id": trace.id,
                                "mail_from": mail_from, "rcpt_to": ", ".join(rcpt_to),
                                "subject": values.get("subject"), "size": len(data),
                                "raw": base64.b64encode(data)})
                outcomes[trace] = (Delivery(SENT), None, values["message_id"])
                continue
            delivery = self.transmit(server, smtp_from, mail_from, rcpt_to, data)
            if delivery.outcome == SENT:
                self.journal.execute(
                    "UPDATE mailing_trace SET trace_status = 'sent', sent_datetime = %s, "
                    "civimail_claim = NULL, failure_type = NULL, failure_reason = NULL, "
                    "message_id = %s WHERE id = %s",
                    [fields.Datetime.now(), values["message_id"], trace.id],
                )
                self.journal_commit()
            outcomes[trace] = (delivery, None, values["message_id"])
        if spooled:
            self.env["civimail.spool"].create(spooled)
        # The host's composer copied the attachments for mail.mail records
        # that are never created: drop the copies.
        attachments.sudo().unlink()
        self.record(mailing, outcomes, server, account)

    def build(self, mailing, trace, values, server, codec=None):
        """(envelope sender, envelope recipients, bytes) of one trace's message, or None."""
        MailMail = self.env["mail.mail"].sudo().with_context(
            civimail_trace_id=trace.id, civimail_mail_id=trace.mail_mail_id_int)
        mail = MailMail.new({**values, "mailing_trace_ids": [Command.set(trace.ids)]})
        email_list = mail._prepare_outgoing_list(mail_server=server)
        if not email_list or not email_list[0]["email_to"]:
            return None
        email = email_list[0]
        if codec is None:
            account = self.env["civimail.mail.account"]._default_bounce_account(
                mailing._civimail_company())
            codec = account._verp_codec()
        email_normalized = email["email_to_normalized"]
        verp = codec.build(trace.id, tools.email_normalize(trace.email) or trace.email or "")
        headers = dict(email["headers"])
        headers.update({
            "Return-Path": verp,
            "List-Unsubscribe": list_unsubscribe(
                mailing._get_unsubscribe_oneclick_url(
                    email_normalized[0] if email_normalized else trace.email, trace.res_id),
                verp,
            ),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-CiviMail-Mailing": str(mailing.id),
            "X-CiviMail-Trace": str(trace.id),
        })
        emails_from = tools.mail.email_split_and_format_normalize(mail.email_from)
        IrMailServer = self.env["ir.mail_server"].sudo().with_context(
            send_validated_to=email_normalized, domain_bounce_address=verp,
        )
        message = IrMailServer.build_email(
            email_from=emails_from[0] if emails_from else mail.email_from,
            email_to=email["email_to"],
            subject=email["subject"],
            body=email["body"],
            body_alternative=email["body_alternative"],
            email_cc=email["email_cc"],
            reply_to=email["reply_to"],
            attachments=email["attachments"],
            message_id=email["message_id"],
            references=email["references"],
            object_id=email["object_id"],
            subtype="html",
            subtype_alternative="plain",
            headers=headers,
        )
        try:
            _from, rcpt_to, message = IrMailServer._prepare_email_message(
                message, self.sessions.get(server.id if server else None))
        except AssertionError:
            return None
        if self.mode == "test":
            message["X-CiviMail-Original-To"] = ", ".join(rcpt_to)
            rcpt_to = [self.test_address]
        # The envelope sender is always the VERP address: bounces name the trace.
        return verp, rcpt_to, flatten(message)

    def transmit(self, server, smtp_from, mail_from, rcpt_to, data):
        key = server.id if server else None
        session = self.sessions.get(key)
        if session is None:
            try:
                session = self.env["ir.mail_server"].sudo().connect(
                    mail_server_id=server.id if server else None, smtp_from=smtp_from)
            except Exception as error:  # noqa: BLE001 - any connection failure is temporary
                return Delivery("temporary", 0, f"{type(error).__name__}: {error}", "connection",
                                session_broken=True)
            self.sessions[key] = session
        delivery = deliver(session, mail_from, rcpt_to, data)
        if delivery.session_broken:
            close_quietly(self.sessions.pop(key, None))
        elif delivery.outcome != SENT:
            try:  # a refused transaction must not leave the session in the middle of one
                session.rset()
            except Exception:  # noqa: BLE001
                close_quietly(self.sessions.pop(key, None))
        return delivery

    def record(self, mailing, outcomes, server, account):
        """Write the batch's outcomes on its traces, in bulk."""
        Trace = self.env["mailing.trace"]
        Trace.invalidate_model()
        now = fields.Datetime.now()
        groups = {}
        unused = 0
        for trace, (outcome, failure_type, info) in outcomes.items():
            if outcome == "cancel":
                groups.setdefault(("cancel", failure_type, False), Trace)
                groups[("cancel", failure_type, False)] |= trace
                self.counts["skipped"] += 1
                unused += 1
            elif outcome == "error":
                reason = info if failure_type == "unknown" else False
                groups.setdefault(("error", failure_type, reason), Trace)
                groups[("error", failure_type, reason)] |= trace
                self.counts["failed"] += 1
                unused += 1
            elif outcome.outcome == SENT:
                self.counts["sent"] += 1
                if self.mode == "spool":
                    groups.setdefault(("sent", False, False), Trace)
                    groups[("sent", False, False)] |= trace
            elif outcome.outcome == PERMANENT:
                self.counts["bounced"] += 1
                trace.write({"civimail_claim": 0, "failure_reason": outcome.response})
                self.env["civimail.bounce"]._record_smtp_refusal(
                    trace, account, outcome.code, outcome.message, outcome.stage)
            else:
                unused += 1
                self.retry_or_fail(trace, outcome, now)
        for (status, failure_type, reason), traces in groups.items():
            values = {"trace_status": status, "failure_type": failure_type,
                      "civimail_claim": 0}
            if status == "sent":
                values["sent_datetime"] = now
            if reason:
                values["failure_reason"] = reason
            traces.write(values)
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
