from markupsafe import Markup
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
