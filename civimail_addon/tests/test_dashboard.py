from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from .common import CivimailCase


@tagged("post_install", "-at_install")
class TestDashboard(CivimailCase):
    """Email Marketing > Reporting > CiviMail: what each screen counts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Report = cls.env["civimail.mailing.report"]
        cls.Status = cls.env["civimail.job.status"]
        cls.types = cls.env["civimail.bounce.type"]._by_code()
        cls.other_company = cls.env["res.company"].create({"name": "Other Company"})

    def make_mailing(self, subject="Funnel", user=None):
        return self.env["mailing.mailing"].create({
            "subject": subject,
            "body_html": "<p>Hello</p>",
            "mailing_model_id": self.env["ir.model"]._get_id("res.partner"),
            "user_id": (user or self.env.user).id,
        })

    def make_trace(self, mailing, email, status, failure_type=False):
        return self.env["mailing.trace"].create({
            "mass_mailing_id": mailing.id, "model": "res.partner", "res_id": 1,
            "email": email, "trace_status": status, "failure_type": failure_type,
        })

    def bounce(self, trace, code, days_ago=0):
        return self.env["civimail.bounce"].create({
            "email": trace.email, "trace_id": trace.id, "mailing_id": trace.mass_mailing_id.id,
            "type_id": self.types[code].id,
            "date": fields.Datetime.now() - timedelta(days=days_ago),
        })

    def funnel(self, mailing, user=None):
        self.env.flush_all()
        Report = self.Report.with_user(user) if user else self.Report
        groups = Report._read_group(
            [("mailing_id", "=", mailing.id)], [],
            ["recipient_count:sum", "sent_count:sum", "delivered_count:sum",
             "bounced_count:sum", "on_hold_count:sum", "skipped_count:sum",
             "failed_count:sum", "queued_count:sum"],
        )
        names = ["recipients", "sent", "delivered", "bounced", "on_hold", "skipped", "failed",
                 "queued"]
        return dict(zip(names, groups[0], strict=True))

    # -- Delivery by Mailing -------------------------------------------------------
    def test_funnel_of_a_mailing(self):
        mailing = self.make_mailing()
        for index, status in enumerate(("sent", "open", "reply")):
            self.make_trace(mailing, f"ok{index}@example.com", status)
        invalid = self.make_trace(mailing, "gone@example.com", "bounce")
        quota = self.make_trace(mailing, "full@example.com", "bounce")
        self.make_trace(mailing, "held@example.com", "cancel", "civimail_hold")
        self.make_trace(mailing, "held2@example.com", "cancel", "civimail_hold")
        self.make_trace(mailing, "listed@example.com", "cancel", "mail_bl")
        self.make_trace(mailing, "smtp@example.com", "error", "mail_smtp")
        self.make_trace(mailing, "later@example.com", "outgoing")
        # The type of a bounced recipient is that of its latest bounce (a trace
        # counts one of each kind: here an out-of-office reply, then the failure).
        self.bounce(invalid, "away", days_ago=2)
        self.bounce(invalid, "invalid", days_ago=1)
        self.bounce(quota, "quota")

        self.assertEqual(self.funnel(mailing), {
            "recipients": 10, "sent": 5, "delivered": 3, "bounced": 2, "on_hold": 2,
            "skipped": 1, "failed": 1, "queued": 1,
        })
        self.env.flush_all()
        lines = self.Report.search([("mailing_id", "=", mailing.id)])
        by_key = {(line.outcome, line.bounce_type_id.code or False, line.failure_type):
                  line.recipient_count for line in lines}
        self.assertEqual(by_key, {
            ("delivered", False, False): 3,
            ("bounced", "invalid", False): 1,
            ("bounced", "quota", False): 1,
            ("on_hold", False, False): 2,
            ("skipped", False, "mail_bl"): 1,
            ("failed", False, "mail_smtp"): 1,
            ("queued", False, False): 1,
        })

    def test_rates_of_a_group_weigh_mailings_by_their_size(self):
        big = self.make_mailing("Big")
        for index in range(9):
            self.make_trace(big, f"ok{index}@example.com", "sent")
        self.make_trace(big, "gone@example.com", "bounce")
        small = self.make_mailing("Small")
        self.make_trace(small, "held@example.com", "cancel", "civimail_hold")
        self.make_trace(small, "gone@example.org", "bounce")
        self.env.flush_all()
        rates = ["delivered_rate:avg", "bounced_rate:avg", "on_hold_rate:avg"]
        by_mailing = {
            mailing: values for mailing, *values in self.Report._read_group(
                [("mailing_id", "in", (big + small).ids)], ["mailing_id"], rates)
        }
        self.assertEqual([round(rate, 2) for rate in by_mailing[big]], [90.0, 10.0, 0.0])
        self.assertEqual([round(rate, 2) for rate in by_mailing[small]], [0.0, 50.0, 50.0])
        # Both together: 9 of 12 delivered, 2 of 12 bounced, 1 of 12 on hold
        # (the mean of the lines' or of the mailings' rates would say otherwise).
        [total] = self.Report._read_group(
            [("mailing_id", "in", (big + small).ids)], [], rates)
        self.assertEqual([round(rate, 2) for rate in total], [75.0, 16.67, 8.33])
        # The pivot asks the same through the web client's read_group.
        [group] = self.Report.web_read_group(
            [("mailing_id", "in", (big + small).ids)], ["bounced_rate:avg"], [])["groups"]
        self.assertAlmostEqual(group["bounced_rate"], 100 * 2 / 12)

    def test_funnel_follows_the_traces(self):
        mailing = self.make_mailing()
        trace = self.make_trace(mailing, "ada@example.com", "sent")
        self.assertEqual(self.funnel(mailing)["delivered"], 1)
        trace.set_bounced()
        self.bounce(trace, "dns")
        funnel = self.funnel(mailing)
        self.assertEqual((funnel["sent"], funnel["delivered"], funnel["bounced"]), (1, 0, 1))

    def test_funnel_of_another_company_is_hidden(self):
        foreign_user = new_test_user(
            self.env, login="foreign_marketer", groups="mass_mailing.group_mass_mailing_user",
            company_id=self.other_company.id, company_ids=[self.other_company.id],
        )
        ours, theirs = self.make_mailing("Ours"), self.make_mailing("Theirs", user=foreign_user)
        self.make_trace(ours, "a@example.com", "sent")
        self.make_trace(theirs, "b@example.com", "sent")
        self.env.flush_all()
        visible = self.Report.with_user(self.user_civimail).search([]).mailing_id
        self.assertIn(ours, visible)
        self.assertNotIn(theirs, visible)
        self.assertEqual(
            self.Report.with_user(foreign_user).search([]).mailing_id & (ours | theirs), theirs
        )

    # -- Job Status ----------------------------------------------------------------
    def log(self, job, minutes_ago, status, company=None):
        return self.env["civimail.job.log"].create({
            "job": job, "status": status, "company_id": company and company.id,
            "date_start": fields.Datetime.now() - timedelta(minutes=minutes_ago),
        })

    def test_latest_run_of_each_job(self):
        self.env["civimail.job.log"].search([]).unlink()  # demo data, earlier runs
        self.log("fetch_bounces", 120, "error")
        latest_fetch = self.log("fetch_bounces", 5, "ok")
        self.log("housekeeping", 60, "ok")
        latest_housekeeping = self.log("housekeeping", 30, "warning", self.env.company)
        # Runs for another company only are not this company's latest.
        self.log("fetch_bounces", 1, "error", self.other_company)
        self.env.flush_all()

        lines = self.Status.with_user(self.user_civimail).search([])
        self.assertEqual(lines.company_id, self.env.company)
        self.assertEqual(sorted(lines.mapped("job")), sorted(
            code for code, _label in self.env["civimail.job.log"]._fields["job"].selection))
        by_job = {line.job: line for line in lines}
        self.assertEqual((by_job["fetch_bounces"].log_id, by_job["fetch_bounces"].status),
                         (latest_fetch, "ok"))
        self.assertEqual(
            (by_job["housekeeping"].log_id, by_job["housekeeping"].status),
            (latest_housekeeping, "warning"),
        )
        self.assertEqual(by_job["process_inbound"].status, "never")
        self.assertFalse(by_job["process_inbound"].log_id)

        theirs = self.Status.with_context(
            allowed_company_ids=self.other_company.ids).search(
            [("company_id", "=", self.other_company.id), ("job", "=", "fetch_bounces")])
        self.assertEqual(theirs.status, "error", "the other company sees its own latest run")

    def test_job_status_shows_the_schedule_and_opens_the_runs(self):
        cron = self.env.ref("civimail_addon.ir_cron_civimail_housekeeping")
        cron.active = True
        self.env.ref("civimail_addon.ir_cron_civimail_fetch_bounces").active = False
        self.env.flush_all()
        lines = {line.job: line for line in self.Status.search(
            [("company_id", "=", self.env.company.id)])}
        self.assertTrue(lines["housekeeping"].scheduled)
        self.assertEqual(lines["housekeeping"].next_run, cron.nextcall)
        self.assertFalse(lines["fetch_bounces"].scheduled)
        self.assertFalse(lines["fetch_bounces"].next_run)
        action = lines["housekeeping"].with_user(self.user_civimail).action_open_job_log()
        self.assertEqual(action["res_model"], "civimail.job.log")
        self.assertEqual(action["domain"], [("job", "=", "housekeeping")])

    # -- Access and screens --------------------------------------------------------
    def test_reports_are_for_civimail_users(self):
        for model in ("civimail.mailing.report", "civimail.job.status"):
            self.env[model].with_user(self.user_civimail).search([])
            with self.assertRaises(AccessError):
                self.env[model].with_user(self.user_internal).search([])
        menu = self.env.ref("civimail_addon.civimail_report_menu_root")
        self.assertIn(menu.id, self.env["ir.ui.menu"].with_user(
            self.user_civimail)._visible_menu_ids())
        self.assertNotIn(menu.id, self.env["ir.ui.menu"].with_user(
            self.user_internal)._visible_menu_ids())

    def test_every_screen_loads_for_a_civimail_user(self):
        """Each dashboard action's views load, and their groupings read, as a CiviMail User."""
        actions = ["civimail_mailing_report_action", "civimail_bounce_action_report",
                   "civimail_bounce_action_domain", "civimail_hold_action_report",
                   "civimail_deliverability_check_action_dashboard",
                   "civimail_job_status_action"]
        for xmlid in actions:
            action = self.env["ir.actions.act_window"].with_user(self.user_civimail)._for_xml_id(
                f"civimail_addon.{xmlid}")
            Model = self.env[action["res_model"]].with_user(self.user_civimail)
            views = Model.get_views(action["views"])
            for view_type, view in views["views"].items():
                self.assertTrue(view["arch"], f"{xmlid}: {view_type}")
            Model.web_search_read(safe_eval(action.get("domain") or "[]"), {"display_name": {}})

    def test_holds_per_week_and_top_domains(self):
        now = fields.Datetime.now()
        partners = self.env["res.partner"].create([
            {"name": f"Held {n}", "email": f"held{n}@example.com", "email_on_hold": True,
             "email_hold_date": now - timedelta(weeks=weeks)}
            for n, weeks in enumerate((0, 0, 3))
        ])
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_hold_action_report")
        groups = self.env["res.partner"]._read_group(
            [*safe_eval(action["domain"]), ("id", "in", partners.ids)], ["email_hold_date:week"],
            ["__count"])
        self.assertEqual(sorted(count for _week, count in groups), [1, 2])

        mailing = self.make_mailing()
        for n, domain in enumerate(["big.example"] * 3 + ["small.example"]):
            self.bounce(self.make_trace(mailing, f"u{n}@{domain}", "bounce"), "invalid")
        domains = self.env["civimail.bounce"]._read_group(
            [("mailing_id", "=", mailing.id)], ["email_domain"], ["__count"],
            order="__count desc")
        self.assertEqual(domains, [("big.example", 3), ("small.example", 1)])

    def test_holds_by_type_and_every_week_shown(self):
        """The holds chart splits each week by bounce type and shows the weeks without holds."""
        self.env["res.partner"].search([("email_on_hold", "=", True)]).email_on_hold = False
        now = fields.Datetime.now()
        dns = self.env.ref("civimail_addon.bounce_type_dns")
        invalid = self.env.ref("civimail_addon.bounce_type_invalid")
        self.env["res.partner"].create([
            {"name": f"Held {n}", "email": f"held{n}@example.com", "email_on_hold": True,
             "email_hold_date": now - timedelta(weeks=weeks), "email_hold_type_id": held_for.id}
            for n, (weeks, held_for) in enumerate([(0, dns), (0, invalid), (3, dns)])
        ])
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_hold_action_report")
        graph = self.env["res.partner"].get_views(action["views"])["views"]["graph"]["arch"]
        self.assertIn('js_class="civimail_graph"', graph)
        # As the graph view reads it (the host's fill_temporal), week by week and by type.
        groups = self.env["res.partner"].with_context(fill_temporal=True).web_read_group(
            safe_eval(action["domain"]), ["__count"],
            ["email_hold_date:week", "email_hold_type_id"], lazy=False,
        )["groups"]
        weeks = {group["email_hold_date:week"] for group in groups}
        self.assertEqual(len(weeks), 4, "the two weeks without holds are shown empty")
        by_type = {(group["email_hold_type_id"] or [False, ""])[1]: 0 for group in groups}
        for group in groups:
            by_type[(group["email_hold_type_id"] or [False, ""])[1]] += group["__count"]
        self.assertEqual((by_type["Dns"], by_type["Invalid"]), (2, 1))
