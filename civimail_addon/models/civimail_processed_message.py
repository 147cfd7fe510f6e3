from odoo import api, fields, models

from .civimail_job_log import DEFAULT_RETENTION_DAYS
from .stored_messages import render, render_result


class CivimailProcessedMessage(models.Model):
    """A message a mail account has processed or set aside, and why.

    Remembering it by Message-ID (or digest) makes reading idempotent: a
    message still in the mailbox after a crash is moved, not processed again.
    """

    _name = "civimail.processed.message"
    _description = "CiviMail Processed Message"
    _order = "create_date desc, id desc"
    _rec_name = "subject"

    account_id = fields.Many2one(
        "civimail.mail.account", required=True, readonly=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="account_id.company_id", store=True)
    message_key = fields.Char(
        required=True, readonly=True,
        help="The Message-ID, or a digest of the message when it has none.",
    )
    message_id = fields.Char(string="Message-ID", readonly=True)
    subject = fields.Char(readonly=True)
    outcome = fields.Selection(
        [("processed", "Processed"), ("ignored", "Ignored")], string="Status", required=True,
        readonly=True,
    )
    label = fields.Char(
        string="Result code", readonly=True,
        help="What became of the message, as a code: e.g. “filed”, or the bounce types.",
    )
    result = fields.Char(compute="_compute_texts", help="E.g. the bounce type.")
    reason_data = fields.Json(readonly=True)
    reason = fields.Text(compute="_compute_texts")

    _sql_constraints = [
        ("message_key_unique", "UNIQUE(account_id, message_key)",
         "A message is processed once per account."),
    ]

    @api.depends("label", "reason_data")
    @api.depends_context("lang")
    def _compute_texts(self):
        for message in self:
            message.result = render_result(self.env, message.label)
            message.reason = render(self.env, message.reason_data)

    @api.model
    def _purge(self, days=DEFAULT_RETENTION_DAYS):
        """Forget messages processed more than ``days`` ago; return how many.

        By then they have long left their mailbox, so forgetting them cannot
        make a message count twice.
        """
        old = self.sudo().search(
            [("create_date", "<", fields.Datetime.subtract(fields.Datetime.now(), days=days))]
        )
        count = len(old)
        old.unlink()
        return count
