import logging

from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError

from ..engine.bounce.patterns import PatternError, PatternSet, compile_pattern
from ..engine.bounce.seed_patterns import DEFAULT_PATTERNS

_logger = logging.getLogger(__name__)


class CivimailBouncePattern(models.Model):
    """A regular expression that recognises one bounce type in a diagnostic.

    The first active pattern that matches, by sequence, gives the type when
    the DSN status and the SMTP reply code do not decide.
    """

    _name = "civimail.bounce.pattern"
    _description = "CiviMail Bounce Pattern"
    _order = "sequence, id"
    _rec_name = "pattern"

    type_id = fields.Many2one(
        "civimail.bounce.type", string="Bounce type", required=True, ondelete="cascade",
        index=True,
    )
    pattern = fields.Char(
        string="Regular expression",
        required=True,
        help="Python regular expression (the “regex” module), matched without regard to "
        "case against the diagnostic of the bounce.",
    )
    sequence = fields.Integer(default=10, help="Patterns are tried in this order.")
    active = fields.Boolean(default=True)
    slow_date = fields.Datetime(
        string="Ran out of time",
        readonly=True,
        help="Last time this pattern took longer than its time limit on a bounce: it was "
        "skipped for the rest of that message. Rewrite it (avoid nested repetitions such "
        "as (a+)+) or archive it.",
    )

    @api.constrains("pattern")
    def _check_pattern(self):
        for record in self:
            try:
                compile_pattern(record.pattern)
            except PatternError as error:
                raise ValidationError(
                    self.env._(
                        "The pattern “%(pattern)s” is not a valid regular expression: %(error)s",
                        pattern=record.pattern,
                        error=error,
                    )
                ) from error

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        if set(vals) - {"slow_date"}:  # noting a slow pattern changes no compiled pattern
            self.env.registry.clear_cache()
        return super().write(vals)

    def unlink(self):
        self.env.registry.clear_cache()
        return super().unlink()

    @api.model
    @tools.ormcache()
    def _pattern_set(self):
        """The engine's PatternSet of the active patterns, compiled once per change."""
        patterns = self.sudo().search([("type_id.active", "=", True)])
        return PatternSet((pattern.type_id.code, pattern.pattern) for pattern in patterns)

    @api.model
    def _note_slow(self, sources):
        """Mark the active patterns whose regular expression ran out of time on a bounce."""
        if not sources:
            return
        slow = self.sudo().search([("pattern", "in", list(sources))])
        _logger.warning("CiviMail bounce patterns ran out of time: %s", ", ".join(sources))
        slow.write({"slow_date": fields.Datetime.now()})

    @api.model
    def _slow_since(self, since):
        """Patterns that ran out of time since ``since``, for the job log."""
        return self.sudo().search([("slow_date", ">=", since)])

    @api.model
    def _create_default_patterns(self):
        """Seed the engine's default patterns once, at install (editable afterwards)."""
        types = self.env["civimail.bounce.type"]._by_code()
        self.create([
            {"type_id": types[code].id, "pattern": source, "sequence": index * 10}
            for index, (code, source) in enumerate(DEFAULT_PATTERNS, start=1)
            if code in types
        ])
