from odoo import fields, models, tools
from odoo.tools import SQL


class MailingTrace(models.Model):
    """Traces are the send queue of CiviMail's mailing job.

    A recipient to send is an ``outgoing`` trace; a worker claims it by
    setting it to ``process`` with its claim number (see
    ``mailing.mailing._civimail_claim``), and writes the outcome.
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

    def init(self):
        # The queue the workers claim from: small, hot, and read in id order.
        index = "mailing_trace_civimail_queue"
        if not tools.index_exists(self.env.cr, index):
            self.env.cr.execute(SQL(
                "CREATE INDEX %s ON %s (mass_mailing_id, id) "
                "WHERE trace_status IN ('outgoing', 'process')",
                SQL.identifier(index), SQL.identifier(self._table),
            ))
