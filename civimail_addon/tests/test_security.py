import tempfile

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import CivimailCase


@tagged("post_install", "-at_install")
class TestSecurity(CivimailCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.log = cls.env["civimail.job.log"]._run_job("housekeeping")

    def test_group_hierarchy(self):
        self.assertTrue(self.user_manager.has_group("civimail_addon.group_civimail_user"),
                        "CiviMail Manager implies CiviMail User")
        self.assertTrue(self.user_civimail.has_group("civimail_addon.group_civimail_user"),
                        "Email Marketing users are CiviMail users")
        self.assertFalse(self.user_civimail.has_group("civimail_addon.group_civimail_manager"))
        self.assertTrue(self.env.ref("base.user_admin").has_group(
            "civimail_addon.group_civimail_manager"))
        self.assertFalse(self.user_internal.has_group("civimail_addon.group_civimail_user"))

    def test_job_log_access(self):
        self.assertEqual(self.log.with_user(self.user_civimail).status, "ok")
        with self.assertRaises(AccessError):
            self.log.with_user(self.user_civimail).unlink()
        with self.assertRaises(AccessError):
            self.log.with_user(self.user_civimail).write({"status": "error"})
        with self.assertRaises(AccessError):
            self.env["civimail.job.log"].with_user(self.user_manager).create(
                {"job": "housekeeping", "date_start": "2026-01-01 00:00:00"})
        with self.assertRaises(AccessError):
            self.log.with_user(self.user_internal).read(["status"])
        self.log.with_user(self.user_manager).unlink()
        self.assertFalse(self.log.exists())

    def test_job_log_of_other_company_is_hidden(self):
        other = self.env["res.company"].create({"name": "Other Company"})
        foreign = self.env["civimail.job.log"].create({
            "job": "housekeeping", "date_start": "2026-01-01 00:00:00", "company_id": other.id,
        })
        visible = self.env["civimail.job.log"].with_user(self.user_manager).search([])
        self.assertNotIn(foreign, visible)
        self.assertIn(self.log, visible, "lines of no company are visible to all")

    def test_settings_and_menus_by_role(self):
        menu = self.env.ref("civimail_addon.civimail_job_log_menu")
        cron_menu = self.env.ref("civimail_addon.civimail_cron_menu")
        Menu = self.env["ir.ui.menu"]
        admin = self.env.ref("base.user_admin")
        visible_to = {
            user: Menu.with_user(user)._visible_menu_ids()
            for user in (self.user_civimail, self.user_manager, self.user_internal, admin)
        }
        self.assertIn(menu.id, visible_to[self.user_civimail])
        self.assertNotIn(menu.id, visible_to[self.user_internal])
        # Scheduled actions are run by the database's administrators, as in Odoo.
        self.assertNotIn(cron_menu.id, visible_to[self.user_manager])
        self.assertIn(cron_menu.id, visible_to[admin])


@tagged("post_install", "-at_install")
class TestCompanies(CivimailCase):
    """What one company's CiviMail holds, another company's users never see."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.user_b = new_test_user(
            cls.env, login="civimail_user_b", groups="mass_mailing.group_mass_mailing_user",
            company_id=cls.company_b.id, company_ids=[cls.company_b.id],
            name="CiviMail User of B",
        )
        cls.env["civimail.mail.account"].search([]).active = False

    def account(self, company, folder):
        return self.env["civimail.mail.account"].create({
            "name": f"Bounces of {company.name}", "usage": "bounce", "protocol": "directory",
            "path": folder, "local_part": "return+", "email_domain": "example.org",
            "company_id": company.id,
        })

    def test_spooled_messages_of_another_company_are_hidden(self):
        Spool = self.env["civimail.spool"]
        spooled_a = Spool.create({"subject": "For A", "company_id": self.company_a.id,
                                  "rcpt_to": "someone@example.com"})
        self.assertEqual(Spool.with_user(self.user_civimail).search([]), spooled_a)
        self.assertFalse(Spool.with_user(self.user_b).search([]))
        with self.assertRaises(AccessError):
            spooled_a.with_user(self.user_b).read(["raw_text"])

    def test_scheduled_run_writes_one_line_per_company(self):
        with tempfile.TemporaryDirectory() as folder_a, tempfile.TemporaryDirectory() as folder_b:
            self.account(self.company_a, folder_a)
            self.account(self.company_b, folder_b)
            logs = self.env["civimail.job.log"]._run_job("fetch_bounces")
        self.assertEqual(logs.mapped("status"), ["ok", "ok"])
        self.assertEqual(logs.company_id, self.company_a | self.company_b)
        seen_by_b = self.env["civimail.job.log"].with_user(self.user_b).search(
            [("id", "in", logs.ids)])
        self.assertEqual(seen_by_b.company_id, self.company_b)
        self.assertIn("Bounces of Company B", seen_by_b.message)
        self.assertNotIn("Bounces of", seen_by_b.message.replace("Bounces of Company B", ""))

    def test_every_model_holding_company_data_has_a_rule(self):
        """A model of the addon with a company has a record rule on it."""
        models = [
            name for name in self.env.registry
            if name.startswith("civimail.") and not self.env[name]._abstract
            and not self.env[name]._transient
            and "company_id" in self.env[name]._fields
        ]
        self.assertIn("civimail.spool", models)
        ruled = set(self.env["ir.rule"].sudo().search([
            ("model_id.model", "in", models), ("global", "=", True),
        ]).mapped("model_id.model"))
        self.assertEqual(set(models) - ruled, set())
