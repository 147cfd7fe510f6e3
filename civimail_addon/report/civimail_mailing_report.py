from odoo import api, fields, models, tools
from odoo.tools import SQL

OUTCOMES = [
    ("queued", "Queued"),
    ("delivered", "Delivered"),
    ("bounced", "Bounced"),
    ("on_hold", "On hold"),
    ("skipped", "Skipped"),
    ("failed", "Failed"),
]

#: Each rate and the count it is the share of (of the recipients).
RATE_COUNTS = {
    "delivered_rate": "delivered_count",
    "bounced_rate": "bounced_count",
    "on_hold_rate": "on_hold_count",
}


class CivimailMailingReport(models.Model):
    """The delivery funnel of each email mailing, from its traces.

    One line per mailing, outcome and bounce type (for bounced recipients:
    the type of the trace's latest bounce), with the number of recipients.
    Grouped by mailing, the counts read as a funnel: recipients, sent (the
    outgoing server took them), delivered, bounced, on hold, skipped.
    """

    _name = "civimail.mailing.report"
    _description = "CiviMail Delivery Analysis"
    _auto = False
    _rec_name = "mailing_id"
    _order = "sent_date desc, mailing_id desc, outcome"

    mailing_id = fields.Many2one("mailing.mailing", readonly=True)
    sent_date = fields.Datetime(string="Sent on", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    outcome = fields.Selection(OUTCOMES, readonly=True)
    bounce_type_id = fields.Many2one("civimail.bounce.type", string="Bounce type", readonly=True)
    failure_type = fields.Selection(
        selection="_selection_failure_type", string="Reason", readonly=True,
        help="Why the recipient was skipped or failed.",
    )
    recipient_count = fields.Integer(string="Recipients", readonly=True)
    sent_count = fields.Integer(
        string="Sent", readonly=True, help="Taken by the outgoing server: delivered or bounced."
    )
    delivered_count = fields.Integer(string="Delivered", readonly=True)
    bounced_count = fields.Integer(string="Bounced", readonly=True)
    on_hold_count = fields.Integer(string="On hold", readonly=True)
    skipped_count = fields.Integer(string="Skipped", readonly=True)
    failed_count = fields.Integer(string="Failed", readonly=True)
    queued_count = fields.Integer(string="Queued", readonly=True)
    # Rates of the intended recipients, as CiviCRM's mailing report shows them.
    # A group's rate is its count over its recipients (see _read_group_select),
    # never the mean of its lines' rates.
    delivered_rate = fields.Float(string="Delivered (%)", readonly=True, aggregator="avg")
    bounced_rate = fields.Float(string="Bounced (%)", readonly=True, aggregator="avg")
    on_hold_rate = fields.Float(string="On hold (%)", readonly=True, aggregator="avg")

    @api.model
    def _selection_failure_type(self):
        return self.env["mailing.trace"]._fields["failure_type"]._description_selection(self.env)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(SQL("CREATE OR REPLACE VIEW %s AS (%s)",
                                SQL.identifier(self._table), self._query()))

    def _query(self):
        return SQL("""
            WITH trace AS (
                SELECT id, mass_mailing_id, failure_type,
                       CASE
                           WHEN trace_status IN ('outgoing', 'process') THEN 'queued'
                           WHEN trace_status IN ('sent', 'open', 'reply', 'pending')
                               THEN 'delivered'
                           WHEN trace_status = 'bounce' THEN 'bounced'
                           WHEN trace_status = 'cancel' AND failure_type = 'civimail_hold'
                               THEN 'on_hold'
                           WHEN trace_status = 'cancel' THEN 'skipped'
                           ELSE 'failed'
                       END AS outcome
                  FROM mailing_trace
                 WHERE mass_mailing_id IS NOT NULL
            )
            SELECT MIN(trace.id) AS id,
                   trace.mass_mailing_id AS mailing_id,
                   mailing.sent_date AS sent_date,
                   responsible.company_id AS company_id,
                   trace.outcome AS outcome,
                   bounce.type_id AS bounce_type_id,
                   CASE WHEN trace.outcome IN ('skipped', 'failed')
                        THEN trace.failure_type END AS failure_type,
                   COUNT(*) AS recipient_count,
                   COUNT(*) FILTER (WHERE trace.outcome IN ('delivered', 'bounced'))
                       AS sent_count,
                   COUNT(*) FILTER (WHERE trace.outcome = 'delivered') AS delivered_count,
                   COUNT(*) FILTER (WHERE trace.outcome = 'bounced') AS bounced_count,
                   COUNT(*) FILTER (WHERE trace.outcome = 'on_hold') AS on_hold_count,
                   COUNT(*) FILTER (WHERE trace.outcome = 'skipped') AS skipped_count,
                   COUNT(*) FILTER (WHERE trace.outcome = 'failed') AS failed_count,
                   COUNT(*) FILTER (WHERE trace.outcome = 'queued') AS queued_count,
                   100.0 * COUNT(*) FILTER (WHERE trace.outcome = 'delivered') / COUNT(*)
                       AS delivered_rate,
                   100.0 * COUNT(*) FILTER (WHERE trace.outcome = 'bounced') / COUNT(*)
                       AS bounced_rate,
                   100.0 * COUNT(*) FILTER (WHERE trace.outcome = 'on_hold') / COUNT(*)
                       AS on_hold_rate
              FROM trace
              JOIN mailing_mailing mailing ON mailing.id = trace.mass_mailing_id
         LEFT JOIN res_users responsible ON responsible.id = mailing.user_id
         LEFT JOIN LATERAL (
                   SELECT civimail_bounce.type_id
                     FROM civimail_bounce
                    WHERE civimail_bounce.trace_id = trace.id
                 ORDER BY civimail_bounce.date DESC, civimail_bounce.id DESC
                    LIMIT 1
                   ) bounce ON trace.outcome = 'bounced'
             WHERE mailing.mailing_type = 'mail'
          GROUP BY 2, 3, 4, 5, 6, 7
        """)

    @api.model
    def _read_group_select(self, aggregate_spec, query):
        # A rate of a group (a mailing, a week, everything) is the sum of its
        # counts over the sum of its recipients: mailings weigh by their size.
        rate = aggregate_spec.removesuffix(":avg")
        if rate not in RATE_COUNTS:
            return super()._read_group_select(aggregate_spec, query)
        return SQL(
            "100.0 * SUM(%s) / NULLIF(SUM(%s), 0)",
            self._field_to_sql(self._table, RATE_COUNTS[rate], query),
            self._field_to_sql(self._table, "recipient_count", query),
        )

    def action_open_bounces(self):
        """The bounces of this line's mailing and bounce type."""
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_bounce_action")
        action["domain"] = [("mailing_id", "=", self.mailing_id.id),
                            ("type_id", "=", self.bounce_type_id.id)]
        action["context"] = {}
        action["name"] = self.env._("Bounces: %(type)s", type=self.bounce_type_id.display_name)
        return action
