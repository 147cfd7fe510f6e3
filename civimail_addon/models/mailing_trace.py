import logging
from datetime import timedelta

from markupsafe import Markup
from odoo import api, fields, models, tools
from odoo.tools import SQL

from ..engine.smtp_out import PERMANENT, SENT, provider_message_id
from ..engine.verp import BOUNCE, OPT_OUT, REPLY, UNSUBSCRIBE

_logger = logging.getLogger(__name__)

# First key of the advisory locks a worker holds while it has claimed traces
# (the second is its claim number): a claim whose lock nobody holds is orphaned.
CLAIM_LOCK_KEY = 0x43_69_4D  # "CiM"


class MailingTrace(models.Model):
    """Traces are the send queue of CiviMail's mailing job, and its transitions.

    A recipient to send is an ``outgoing`` trace; a worker claims it by
    setting it to ``process`` with its claim number (``_civimail_claim``);
    the outcome is written by ``_civimail_mark_sent_query`` (as each message
    is accepted) or ``_civimail_record_outcomes`` (the rest of the batch:
    skipped, failed, bounced, retried); ``_civimail_recover`` puts back the
    traces of a worker that died. As the host's ``set_sent``, ``set_bounced``…
    name its transitions, each is a method here another addon can extend.
    """

    _inherit = "mailing.trace"

    failure_type = fields.Selection(
        selection_add=[("civimail_hold", "On hold (bounces)")],
        ondelete={"civimail_hold": "set null"},
    )
    civimail_claim = fields.Integer(
        string="Claimed by worker", readonly=True, copy=False,
        help="Number of the CiviMail worker sending this recipient right now.",
    )
    civimail_attempts = fields.Integer(string="Send attempts", readonly=True, copy=False)
    civimail_next_try = fields.Datetime(
        string="Next attempt", readonly=True, copy=False,
        help="Not sent before this time: after a temporary failure, or when the outgoing "
        "server's send limit is reached.",
    )

    civimail_unsubscribe_date = fields.Datetime(
        string="Unsubscribed by email", readonly=True, copy=False,
        help="When the recipient's unsubscribe request (an email to this message's signed "
        "unsubscribe address) was processed.",
    )
    civimail_opt_out_date = fields.Datetime(
        string="Opted out by email", readonly=True, copy=False,
        help="When the recipient's opt-out request (an email to this message's signed opt-out "
        "address) put the email on the blocklist.",
    )
    civimail_provider_message_id = fields.Char(
        string="Provider message ID", readonly=True, copy=False, index="btree_not_null",
        help="The id the sending provider gave the message in its reply to DATA; its "
        "event webhooks name the message by it.",
    )

    def init(self):
        # The queue the workers claim from: small, hot, and read in id order.
        index = "mailing_trace_civimail_queue"
        if not tools.index_exists(self.env.cr, index):
            self.env.cr.execute(SQL(
                "CREATE INDEX %s ON %s (mass_mailing_id, id) "
                "WHERE trace_status IN ('outgoing', 'process')",
                SQL.identifier(index), SQL.identifier(self._table),
            ))

    def _civimail_unsubscribe(self, note):
        """Opt the recipients out as the mailing's one-click unsubscribe link does.

        Mailings to lists opt the email out of those lists (the host notes it
        on the mailing contacts, in ``note``); others put it on the blocklist
        with ``note``. Unsubscribe emails and provider events both come here.
        """
        message = Markup("<p>%s</p>") % note
        for trace in self:
            mailing = trace.mass_mailing_id
            email = tools.email_normalize(trace.email) or trace.email
            if mailing.mailing_on_mailing_list:
                mailing.contact_list_ids.sudo()._update_subscription_from_email(
                    email, opt_out=True, force_message=message)
            else:
                self.env["mail.blacklist"].sudo()._add(email, message=message)

    # ------------------------------------------------------------------
    # The send queue: claiming, recovering, recording outcomes
    # ------------------------------------------------------------------
    @api.model
    def _civimail_recover(self, claim):
        """Put back in the queue the traces claimed by workers that died (not ``claim``).

        A claim is alive while some session holds its advisory lock
        (``CLAIM_LOCK_KEY``, claim). The caller commits.
        """
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            "SELECT DISTINCT civimail_claim FROM mailing_trace WHERE trace_status = 'process' "
            "AND civimail_claim IS NOT NULL AND civimail_claim != %s",
            [claim],
        )
        for (orphan,) in cr.fetchall():
            # Held by any session (this one included) means its worker is alive.
            cr.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = %s AND objid = %s AND objsubid = 2 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                [CLAIM_LOCK_KEY, orphan],
            )
            if cr.fetchone():
                continue
            cr.execute(
                "UPDATE mailing_trace SET trace_status = 'outgoing', civimail_claim = NULL "
                "WHERE trace_status = 'process' AND civimail_claim = %s",
                [orphan],
            )
            _logger.info("CiviMail: %s recipients of a stopped worker back in queue", cr.rowcount)
        self.invalidate_model()

    @api.model
    def _civimail_claim(self, mailing, claim, limit):
        """Claim up to ``limit`` due traces of ``mailing`` for worker ``claim``: the traces.

        Each gets the mail id the host would give its mail.mail (tracking
        pixel, ``mail_mail_id_int``). Traces other workers hold are skipped,
        not waited for. The caller commits.
        """
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
            {"claim": claim, "mailing": mailing.id, "now": fields.Datetime.now(), "limit": limit},
        )
        ids = sorted(row[0] for row in cr.fetchall())
        self.invalidate_model()
        return self.browse(ids)

    def _civimail_postpone(self, until):
        """Give these claimed traces back to the queue until ``until`` (a send limit)."""
        self.write({"trace_status": "outgoing", "civimail_claim": 0, "civimail_next_try": until})

    def _civimail_addresses(self, codec):
        """{action: signed address} of this trace's message: bounce, unsubscribe, opt-out,
        and reply when its mailing tracks replies (as CiviCRM's VERP addresses)."""
        self.ensure_one()
        recipient = tools.email_normalize(self.email) or self.email or ""
        actions = (BOUNCE, UNSUBSCRIBE, OPT_OUT, REPLY) \
            if self.mass_mailing_id.civimail_track_replies else (BOUNCE, UNSUBSCRIBE, OPT_OUT)
        return {action: codec.build(self.id, recipient, action) for action in actions}

    @api.model
    def _civimail_mark_sent_query(self, outgoing, delivery):
        """(query, parameters) marking ``outgoing``'s trace sent, as the server accepted it.

        Run by the outbox's thread on a connection of its own, before the
        next message's DATA (see ``mailing_send_run``): plain SQL, no ORM.
        """
        return MARK_SENT, [fields.Datetime.now(), outgoing.message_id,
                           provider_message_id(delivery.message) or None, outgoing.key]

    @api.model
    def _civimail_record_outcomes(self, outcomes, account, policy):
        """Write a batch's outcomes ({trace id: (outcome, failure type, reason)}), in bulk.

        An outcome is "cancel" (skipped as the host decides), "error" (the
        message could not be built) or the ``smtp_out.Delivery`` of its
        transaction. Accepted messages are marked as they are accepted
        (``_civimail_mark_sent_query``), not here. Returns the
        counts by kind (sent, failed, bounced, skipped, retry) and "unused":
        the reserved sends not spent.
        """
        self.invalidate_model()
        now = fields.Datetime.now()
        counts = dict.fromkeys(("sent", "failed", "bounced", "skipped", "retry", "unused"), 0)
        groups = {}
        for trace_id, (outcome, failure_type, reason) in outcomes.items():
            if outcome == "cancel":
                groups.setdefault(("cancel", failure_type, False), []).append(trace_id)
                counts["skipped"] += 1
                counts["unused"] += 1
            elif outcome == "error":
                groups.setdefault(("error", failure_type, reason or False), []).append(trace_id)
                counts["failed"] += 1
                counts["unused"] += 1
            elif outcome.outcome == SENT:
                counts["sent"] += 1
            elif outcome.outcome == PERMANENT:
                counts["bounced"] += 1
                self.browse(trace_id)._civimail_set_refused(outcome, account)
            else:
                counts["unused"] += 1
                counts[self.browse(trace_id)._civimail_retry_or_fail(outcome, policy, now)] += 1
        for (status, failure_type, reason), trace_ids in groups.items():
            values = {"trace_status": status, "failure_type": failure_type, "civimail_claim": 0}
            if reason:
                values["failure_reason"] = reason
            self.browse(trace_ids).write(values)
        return counts

    def _civimail_set_refused(self, delivery, account):
        """A 5xx refusal at send time: the trace bounces, as a bounce of ``account``."""
        self.ensure_one()
        self.write({"civimail_claim": 0, "failure_reason": delivery.response})
        self.env["civimail.bounce"]._record_smtp_refusal(
            self, account, delivery.code, delivery.message, delivery.stage)

    def _civimail_retry_or_fail(self, delivery, policy, now):
        """A temporary failure: try again later, or give up after the last attempt.

        Returns "retry" or "failed".
        """
        self.ensure_one()
        attempts = self.civimail_attempts + 1
        if policy.gives_up(attempts):
            self.write({
                "trace_status": "error", "failure_type": "mail_smtp",
                "civimail_attempts": attempts, "civimail_claim": 0,
                "failure_reason": self.env._(
                    "Not sent after %(attempts)s attempts; last answer: %(response)s",
                    attempts=attempts, response=delivery.response),
            })
            return "failed"
        self.write({
            "trace_status": "outgoing", "civimail_attempts": attempts,
            "civimail_claim": 0, "failure_reason": delivery.response,
            "civimail_next_try": now + timedelta(seconds=policy.delay(attempts)),
        })
        return "retry"


MARK_SENT = (
    "UPDATE mailing_trace SET trace_status = 'sent', sent_datetime = %s, civimail_claim = NULL, "
    "failure_type = NULL, failure_reason = NULL, message_id = %s, "
    "civimail_provider_message_id = %s WHERE id = %s"
)
