from odoo import fields, models


class CivimailHeaderAnalysisVerdict(models.TransientModel):
    """One SPF, DKIM or DMARC verdict a receiver wrote into an analyzed message."""

    _name = "civimail.header.analysis.verdict"
    _description = "CiviMail: Analyzed Verdict"
    _order = "sequence, id"

    analysis_id = fields.Many2one("civimail.header.analysis", required=True,
                                  ondelete="cascade")
    sequence = fields.Integer()
    method = fields.Selection([("spf", "SPF"), ("dkim", "DKIM"), ("dmarc", "DMARC")])
    result = fields.Char()
    source = fields.Char(string="Header")
    reporter = fields.Char(string="Written by")
    details = fields.Char()
    meaning = fields.Text(string="What it means")
