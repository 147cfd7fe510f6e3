from odoo import api, fields, models


class CivimailHeaderAnalysisHop(models.TransientModel):
    """One Received header of an analyzed message, from the first server to the last."""

    _name = "civimail.header.analysis.hop"
    _description = "CiviMail: Analyzed Hop"
    _order = "sequence, id"

    analysis_id = fields.Many2one("civimail.header.analysis", required=True,
                                  ondelete="cascade")
    sequence = fields.Integer(string="#")
    from_host = fields.Char(string="From (as announced)")
    from_rdns = fields.Char(string="From (reverse DNS)")
    ip = fields.Char(string="IP address")
    by_host = fields.Char(string="Received by")
    protocol = fields.Char(string="With")
    date = fields.Datetime(string="Time")
    delay = fields.Float(string="Delay (s)", help="Seconds since the previous dated hop; "
                         "negative when the two servers' clocks disagree.")
    has_delay = fields.Boolean()
    delay_text = fields.Char(string="Delay", compute="_compute_delay_text")
    raw = fields.Text(string="Header")

    @api.depends("delay", "has_delay")
    @api.depends_context("lang")
    def _compute_delay_text(self):
        for hop in self:
            if not hop.has_delay:
                hop.delay_text = False
            elif abs(hop.delay) < 120:
                hop.delay_text = self.env._("%s s", round(hop.delay))
            else:
                hop.delay_text = self.env._("%s min", round(hop.delay / 60, 1))
