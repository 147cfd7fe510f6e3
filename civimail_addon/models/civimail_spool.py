import base64

from odoo import fields, models


class CivimailSpool(models.Model):
    """A message the mailing job would have sent, kept in the database instead.

    Delivery mode "Redirect to database": each complete message, envelope
    included, to read or download as .eml without any mail leaving.
    """

    _name = "civimail.spool"
    _description = "CiviMail Spooled Message"
    _order = "id desc"
    _rec_name = "subject"

    create_date = fields.Datetime(string="Date", readonly=True)
    mailing_id = fields.Many2one("mailing.mailing", readonly=True, index=True,
                                 ondelete="cascade")
    trace_id = fields.Many2one("mailing.trace", string="Mailing trace", readonly=True,
                               ondelete="set null")
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True,
        default=lambda self: self.env.company,
        help="The company of the mailing (its responsible's), whose users alone read it.",
    )
    mail_from = fields.Char(string="Envelope sender", readonly=True)
    rcpt_to = fields.Char(string="Envelope recipient", readonly=True)
    subject = fields.Char(readonly=True)
    size = fields.Integer(string="Size (bytes)", readonly=True)
    raw = fields.Binary(string="Message", attachment=False, readonly=True)
    raw_filename = fields.Char(compute="_compute_raw_filename")
    raw_text = fields.Text(string="Source", compute="_compute_raw_text")

    def _compute_raw_filename(self):
        for message in self:
            message.raw_filename = f"civimail-{message.mailing_id.id}-{message.trace_id.id}.eml"

    def _compute_raw_text(self):
        for message in self.with_context(bin_size=False):
            raw = base64.b64decode(message.raw) if message.raw else b""
            message.raw_text = raw.decode("utf-8", "replace")
