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
    email_from = fields.Char(string="From", readonly=True)
    message_date = fields.Datetime(string="Sent on", readonly=True, help="The Date header.")
    # In the row, not the file store: one write per message less, and it goes with the line.
    raw_message = fields.Binary(
        string="Raw message", attachment=False, readonly=True,
        groups="civimail_addon.group_civimail_manager",
        help="The message as it was read, kept as long as this line (see Housekeeping).",
    )
    raw_filename = fields.Char(compute="_compute_raw_filename")
    bounce_ids = fields.Many2many(
        "civimail.bounce", string="Bounces", compute="_compute_links",
        help="The bounces this message recorded.",
    )
    partner_ids = fields.Many2many(
        "res.partner", string="Contacts", compute="_compute_links",
        help="The contacts it bounced for or was filed on.",
    )
    trace_ids = fields.Many2many(
        "mailing.trace", string="Mailing traces", compute="_compute_links",
    )
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
        types = self.env["civimail.bounce.type"]._by_code()  # once for the whole list
        for message in self:
            message.result = render_result(self.env, message.label, types)
            message.reason = render(self.env, message.reason_data)

    def _compute_raw_filename(self):
        for message in self:
            message.raw_filename = f"civimail-message-{message.id}.eml"

    def _compute_links(self):
        """What the message left: its bounces (by the account and the bounce's Message-ID),
        or the contacts whose chatter it was filed on."""
        keyed = self.filtered("message_id")
        bounces = self.env["civimail.bounce"].search([
            ("account_id", "in", keyed.account_id.ids),
            ("message_id", "in", keyed.mapped("message_id")),
        ]) if keyed else self.env["civimail.bounce"]
        filed = self.env["mail.message"].sudo().search_fetch([
            ("model", "=", "res.partner"),
            ("message_id", "in", keyed.mapped("message_id")),
        ], ["message_id", "res_id"]) if keyed else self.env["mail.message"]
        Partner = self.env["res.partner"]
        for message in self:
            own = bounces.filtered(
                lambda b, m=message: b.message_id == m.message_id and b.account_id == m.account_id
            ) if message.message_id else bounces.browse()
            message.bounce_ids = own
            message.trace_ids = own.trace_id
            filed_on = Partner.browse(
                filed.filtered(lambda f, m=message: f.message_id == m.message_id).mapped("res_id")
            ) if message.message_id and message.account_id.usage == "activity" else Partner
            message.partner_ids = own.partner_ids | filed_on.exists()

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
