from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestReportCharts(HttpCase):
    """The reports' charts in a real browser: what a user reads off them."""

    def test_each_bounce_type_keeps_its_colour_in_bars_and_pie(self):
        types = self.env["civimail.bounce.type"]._by_code()
        types["invalid"].chart_color = "#112233"
        types["quota"].chart_color = "#445566"
        # Quota first: the host's palette colours series by order, not by type.
        self.env["civimail.bounce"].create([
            {"email": f"{code}{n}@colours.example", "type_id": types[code].id}
            for code, count in (("quota", 2), ("invalid", 1)) for n in range(count)
        ])
        self.start_tour("/odoo/action-civimail_addon.civimail_bounce_action_report",
                        "civimail_bounce_colours_tour", login="admin")

    def test_each_delivery_outcome_keeps_its_colour(self):
        mailing = self.env["mailing.mailing"].create({
            "subject": "Colours", "body_html": "<p>Hello</p>",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "user_id": self.env.ref("base.user_admin").id,
        })
        # Bounced first: the host's palette colours series by order, not by outcome.
        self.env["mailing.trace"].create([
            {"mass_mailing_id": mailing.id, "model": "res.partner", "res_id": 1,
             "email": f"{status}@colours.example", "trace_status": status}
            for status in ("bounce", "sent", "cancel")
        ])
        self.start_tour("/odoo/action-civimail_addon.civimail_mailing_report_action",
                        "civimail_delivery_colours_tour", login="admin")
