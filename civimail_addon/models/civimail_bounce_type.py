from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..engine.bounce.patterns import TYPE_CODES

# One distinct colour per type, the same in every chart (red for the dead
# addresses, orange for the temporary ones, purple for the sender's problems).
CHART_COLORS = {
    "invalid": "#c0392b",
    "inactive": "#e67e22",
    "dns": "#8e44ad",
    "host": "#f1c40f",
    "relay": "#16a085",
    "quota": "#2980b9",
    "spam": "#d35400",
    "syntax": "#7f8c8d",
    "loop": "#a0522d",
    "away": "#27ae60",
    "complaint": "#e84393",
    "blocked": "#2c3e50",
    "unknown": "#bdc3c7",
}


class CivimailBounceType(models.Model):
    """Why a mail bounced, and after how many such bounces an email goes on hold."""

    _name = "civimail.bounce.type"
    _description = "CiviMail Bounce Type"
    _order = "sequence, id"

    code = fields.Char(
        required=True, help="Code the analyzer and the patterns use, e.g. “invalid”."
    )
    name = fields.Char(required=True, translate=True)
    description = fields.Text(translate=True)
    sequence = fields.Integer(default=10)
    hard = fields.Boolean(
        help="The address itself is dead (hard bounce), rather than a temporary or "
        "sender-side problem.",
    )
    hold_threshold = fields.Integer(
        default=3,
        help="Number of bounces of this type, since the email was last released, that "
        "put the email on hold. 0 never puts it on hold.",
    )
    active = fields.Boolean(default=True)
    chart_color = fields.Char(
        string="Chart colour", compute="_compute_chart_color", store=True, readonly=False,
        help="The colour of this type in every CiviMail chart.",
    )
    pattern_ids = fields.One2many("civimail.bounce.pattern", "type_id", string="Patterns")
    pattern_count = fields.Integer(compute="_compute_pattern_count")

    _sql_constraints = [
        ("code_unique", "UNIQUE(code)", "Each bounce type code is used once."),
        ("hold_threshold_positive", "CHECK(hold_threshold >= 0)",
         "The hold threshold cannot be negative."),
    ]

    @api.constrains("code")
    def _check_code(self):
        for bounce_type in self:
            if bounce_type.code not in TYPE_CODES:
                raise ValidationError(
                    self.env._(
                        "“%(code)s” is not a code the analyzer produces. Use one of: %(codes)s.",
                        code=bounce_type.code,
                        codes=", ".join(TYPE_CODES),
                    )
                )

    @api.depends("code")
    def _compute_chart_color(self):
        for bounce_type in self:
            if not bounce_type.chart_color:
                bounce_type.chart_color = CHART_COLORS.get(bounce_type.code, "#95a5a6")

    def _compute_pattern_count(self):
        counts = dict(
            self.env["civimail.bounce.pattern"]._read_group(
                [("type_id", "in", self.ids)], ["type_id"], ["__count"]
            )
        )
        for bounce_type in self:
            bounce_type.pattern_count = counts.get(bounce_type, 0)

    @api.model
    def _by_code(self):
        """{code: type} of every type, archived ones included."""
        types = self.sudo().with_context(active_test=False).search([])
        return {bounce_type.code: bounce_type for bounce_type in types}
