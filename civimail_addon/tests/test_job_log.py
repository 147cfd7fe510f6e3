from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.sql_db import db_connect
from odoo.tests import tagged

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
        """"Run Manually" on the scheduled action runs the job and logs it once."""
        before = self.JobLog.search_count([])
        self.cron.method_direct_trigger()
        logs = self.JobLog.search([], order="id desc")
        self.assertEqual(len(logs), before + 1)
        log = logs[0]
        self.assertEqual((log.job, log.origin, log.status), ("housekeeping", "cron", "ok"))
        self.assertTrue(log.date_end >= log.date_start)
        self.assertGreaterEqual(log.duration, 0)

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
