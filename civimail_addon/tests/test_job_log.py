import importlib.util
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.sql_db import db_connect
from odoo.tests import tagged
from odoo.tools import SQL
from odoo.tools.misc import file_path

from ..models.civimail_job_log import JOB_LOCK_KEY
from .common import CivimailCase


@tagged("post_install", "-at_install")
class TestJobLog(CivimailCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.JobLog = cls.env["civimail.job.log"]
        cls.cron = cls.env.ref("civimail_addon.ir_cron_civimail_housekeeping")

    def _old_line(self, days, status="ok", job="housekeeping"):
        return self.JobLog.create({
            "job": job,
            "date_start": fields.Datetime.now() - timedelta(days=days),
            "status": status,
        })

    @contextmanager
    def _worker_running(self, line):
        """Another process running ``line``'s job: it holds the line's lock on its connection."""
        with db_connect(self.env.cr.dbname).cursor() as cr:
            cr.execute("SELECT pg_advisory_lock(%s, %s)", [JOB_LOCK_KEY, line.id])
            try:
                yield
            finally:
                cr.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCK_KEY, line.id])

    def test_run_manually_writes_one_line(self):
        """"Run Manually" on the scheduled action runs the job and logs it once, as manual."""
        before = self.JobLog.search_count([])
        admin = self.env.ref("base.user_admin")
        self.cron.with_user(admin).method_direct_trigger()
        logs = self.JobLog.search([], order="id desc")
        self.assertEqual(len(logs), before + 1)
        log = logs[0]
        self.assertEqual((log.job, log.origin, log.status), ("housekeeping", "manual", "ok"))
        self.assertEqual(log.user_id, admin, "the log names who pressed, not the job's user")
        self.assertTrue(log.date_end >= log.date_start)
        self.assertGreaterEqual(log.duration, 0)

    def test_the_schedule_logs_its_runs_as_scheduled(self):
        self.cron.ir_actions_server_id.run()
        log = self.JobLog.search([], limit=1)
        self.assertEqual((log.job, log.origin), ("housekeeping", "cron"))

    def test_run_now_opens_the_line_of_its_run(self):
        """The Scheduled Jobs screen: Run now, then the line of that run; last run shown."""
        admin = self.env.ref("base.user_admin")
        action = self.cron.with_user(admin).action_civimail_run_now()
        log = self.JobLog.browse(action["res_id"])
        self.assertEqual((action["res_model"], log.job, log.origin, log.user_id),
                         ("civimail.job.log", "housekeeping", "manual", admin))
        self.cron.invalidate_recordset()
        self.assertEqual(self.cron.civimail_last_log_id, log)
        self.assertEqual((self.cron.civimail_last_run, self.cron.civimail_last_status),
                         (log.date_start, "ok"))
        self.assertIn("job log lines",
                      self.cron.with_context(lang="en_US").civimail_description)

    def test_only_administrators_run_a_scheduled_job(self):
        user = self.env["res.users"].create({
            "name": "Marketing", "login": "marketing_run_now",
            "groups_id": [(6, 0, [self.env.ref("civimail_addon.group_civimail_manager").id])],
        })
        with self.assertRaises(AccessError):
            self.cron.with_user(user).action_civimail_run_now()

    def test_housekeeping_deletes_lines_older_than_retention(self):
        self.env["ir.config_parameter"].set_param("civimail_addon.job_log_retention_days", 30)
        old, older = self._old_line(31), self._old_line(400)
        recent = self._old_line(29)
        running = self._old_line(60, status="running")
        with self._worker_running(running):
            log = self.JobLog._run_job("housekeeping")
        self.assertEqual(log.status, "ok")
        self.assertEqual(log.processed_count, 2)
        self.assertFalse((old | older).exists())
        self.assertEqual((recent | running).exists(), recent | running,
                         "recent lines and lines of a run still going are kept")
        self.assertIn("30 days", log.message)

    def test_retention_setting_from_settings_page(self):
        settings = self.env["res.config.settings"].create({"civimail_job_log_retention_days": 7})
        settings.execute()
        self.assertEqual(
            self.env["ir.config_parameter"].get_param("civimail_addon.job_log_retention_days"), "7"
        )
        old = self._old_line(8)
        self.JobLog._run_job("housekeeping")
        self.assertFalse(old.exists())

    def test_bad_setting_is_an_error_line_with_a_clear_message(self):
        self.env["ir.config_parameter"].set_param("civimail_addon.job_log_retention_days", 0)
        old = self._old_line(400)
        log = self.JobLog._run_job("housekeeping")
        self.assertEqual(log.status, "error")
        self.assertIn("positive number of days", log.message)
        self.assertTrue(old.exists(), "a failed run deletes nothing")

    def test_failing_job_is_logged_and_does_not_break_the_next_job(self):
        """An unexpected exception is logged as an error; its work is undone; the next job runs."""
        victim = self._old_line(400)

        def crash(self_):
            self_.sudo().search([]).unlink()  # partial work that must be rolled back
            raise ZeroDivisionError("boom")

        with patch.object(type(self.JobLog), "_job_housekeeping", crash), \
                self.assertLogs("odoo.addons.civimail_addon.models.civimail_job_log", "ERROR"):
            failed = self.JobLog._run_job("housekeeping")
        self.assertEqual(failed.status, "error")
        self.assertIn("ZeroDivisionError", failed.message)
        self.assertNotIn("Traceback", failed.message)
        self.assertTrue(victim.exists(), "the failed job's partial work is rolled back")
        # The cron, run after the failure, works normally.
        self.cron.method_direct_trigger()
        last = self.JobLog.search([], limit=1)
        self.assertEqual(last.status, "ok")
        self.assertFalse(victim.exists())

    def test_unknown_job_is_refused(self):
        with self.assertRaisesRegex(UserError, r"Known jobs: .*\bhousekeeping\b"):
            self.JobLog._run_job("no_such_job")

    def test_cron_smart_button_lists_its_runs(self):
        self.cron.method_direct_trigger()
        self.cron.method_direct_trigger()
        self.cron.invalidate_recordset(["civimail_job_log_count"])
        count = self.JobLog.search_count([("job", "=", "housekeeping")])
        self.assertEqual(self.cron.civimail_job_log_count, count)
        action = self.cron.action_open_civimail_job_logs()
        self.assertEqual(self.JobLog.search_count(action["domain"]), count)
        self.assertGreaterEqual(count, 2)

    def test_line_of_a_killed_worker_is_closed_by_the_next_run(self):
        """A worker killed mid-run left its line "Running": the next run of the job closes it."""
        orphan = self._old_line(1, status="running")
        other_job = self._old_line(1, status="running", job="fetch_bounces")
        with self.assertLogs("odoo.addons.civimail_addon.models.civimail_job_log", "WARNING"):
            log = self.JobLog._run_job("housekeeping")
        self.assertEqual(log.status, "ok")
        self.assertEqual(orphan.status, "error")
        self.assertIn("Interrupted", orphan.message)
        self.assertEqual(other_job.status, "running", "only the lines of the job that runs")
        # Closed, it is an old line like any other for the housekeeping.
        self.assertEqual(self.JobLog.search([("status", "=", "running")]), other_job)

    def test_line_of_a_run_going_on_in_another_worker_stays_running(self):
        live = self._old_line(0, status="running")
        with self._worker_running(live):
            self.JobLog._run_job("housekeeping")
        self.assertEqual(live.status, "running")
        self.assertFalse(live.message)

    def test_a_finished_run_leaves_no_lock_behind(self):
        """The lock ends with the run: the pooled connection carries nothing to the next job."""
        log = self.JobLog._run_job("housekeeping")
        self.env.cr.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s "
            "AND objid = %s", [JOB_LOCK_KEY, log.id])
        self.assertEqual(self.env.cr.fetchone()[0], 0)
    def test_rows_written_before_facts_keep_their_words(self):
        """The upgrade to stored facts keeps what older rows said, and gives results codes."""
        spec = importlib.util.spec_from_file_location(
            "civimail_post_migrate",
            file_path("civimail_addon/migrations/18.0.1.1.0/post-migrate.py"),
        )
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        cr = self.env.cr
        for table, old, _new in migration.MOVED_TEXTS:  # the columns of the older version
            cr.execute(SQL("ALTER TABLE %s ADD COLUMN %s TEXT", SQL.identifier(table),
                           SQL.identifier(old)))
        line = self._old_line(1)
        account = self.env["civimail.mail.account"].create({
            "name": "Old", "usage": "bounce", "protocol": "maildir", "path": "/nonexistent",
            "local_part": "return+", "email_domain": "example.org",
        })
        processed = self.env["civimail.processed.message"].create({
            "account_id": account.id, "message_key": "<old@x>", "outcome": "ignored",
        })
        partner = self.env["res.partner"].create({"name": "Held", "email_on_hold": True})
        self.env.flush_all()
        cr.execute("UPDATE civimail_job_log SET message = '3 job log lines deleted.' "
                   "WHERE id = %s", [line.id])
        cr.execute("UPDATE civimail_processed_message SET reason = 'no delivery status', "
                   "label = 'not a bounce' WHERE id = %s", [processed.id])
        cr.execute("UPDATE res_partner SET email_hold_reason = '3 bounces of type Dns' "
                   "WHERE id = %s", [partner.id])
        migration.migrate(cr, "18.0.1.0.0")
        self.env.invalidate_all()
        self.assertEqual(line.message, "3 job log lines deleted.")
        self.assertEqual(processed.reason, "no delivery status")
        self.assertEqual(processed.label, "not_bounce")
        self.assertEqual(processed.with_context(lang="en_US").result, "not a bounce")
        self.assertEqual(partner.email_hold_reason, "3 bounces of type Dns")
        cr.execute("SELECT 1 FROM information_schema.columns WHERE table_name = "
                   "'civimail_job_log' AND column_name = 'message'")
        self.assertFalse(cr.fetchall(), "the old column is gone once copied")
