from odoo import api, fields, models

from .civimail_job_log import JOB_DESCRIPTIONS, JOBS, ORIGINS, RUN_STATUSES


class IrCron(models.Model):
    """The scheduled actions of CiviMail's jobs, as CiviCRM's Scheduled Jobs shows them."""

    _inherit = "ir.cron"

    civimail_job = fields.Selection(
        JOBS,
        string="CiviMail Job",
        readonly=True,
        help="The CiviMail job this scheduled action runs; its runs are in the CiviMail job log.",
    )
    civimail_description = fields.Text(
        string="What it does", compute="_compute_civimail_description"
    )
    civimail_job_log_count = fields.Integer(
        string="Job Log Lines", compute="_compute_civimail_last_run"
    )
    civimail_last_log_id = fields.Many2one(
        "civimail.job.log", string="Last run line", compute="_compute_civimail_last_run"
    )
    civimail_last_run = fields.Datetime(string="Last run", compute="_compute_civimail_last_run")
    civimail_last_status = fields.Selection(
        RUN_STATUSES, string="Last status", compute="_compute_civimail_last_run",
    )
    civimail_last_duration = fields.Float(
        string="Last duration (s)", digits=(16, 2), compute="_compute_civimail_last_run"
    )
    civimail_last_origin = fields.Selection(
        ORIGINS, string="Last started by", compute="_compute_civimail_last_run"
    )

    @api.depends("civimail_job")
    @api.depends_context("lang")
    def _compute_civimail_description(self):
        for cron in self:
            description = JOB_DESCRIPTIONS.get(cron.civimail_job)
            cron.civimail_description = self.env._(description) if description else False

    @api.depends("civimail_job")
    def _compute_civimail_last_run(self):
        JobLog = self.env["civimail.job.log"]
        jobs = [job for job in self.mapped("civimail_job") if job]
        counts = dict(JobLog._read_group([("job", "in", jobs)], ["job"], ["__count"]))
        latest = dict(JobLog._read_group([("job", "in", jobs)], ["job"], ["id:max"]))
        for cron in self:
            cron.civimail_job_log_count = counts.get(cron.civimail_job, 0)
            # The newest line: lines are created when a run starts.
            last = JobLog.browse(latest.get(cron.civimail_job))
            cron.civimail_last_log_id = last
            cron.civimail_last_run = last.date_start
            cron.civimail_last_status = last.status
            cron.civimail_last_duration = last.duration
            cron.civimail_last_origin = last.origin

    def action_open_civimail_job_logs(self):
        self.ensure_one()
        self.check_access("read")
        return self.env["civimail.job.log"]._action_for_job(self.civimail_job)

    def action_civimail_run_now(self):
        """Run this CiviMail job now, then open the job log line of the run."""
        logs = self._civimail_run_manually()
        if len(logs) == 1:
            return {
                "type": "ir.actions.act_window",
                "res_model": "civimail.job.log",
                "res_id": logs.id,
                "views": [(False, "form")],
                "target": "current",
            }
        # One line per company the run worked for.
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "civimail_addon.civimail_job_log_action")
        action["domain"] = [("id", "in", logs.ids)]
        return action

    def method_direct_trigger(self):
        # The host's "Run Manually" on a CiviMail job: logged as a manual run too.
        if self.civimail_job:
            self._civimail_run_manually()
            return True
        return super().method_direct_trigger()

    def _civimail_run_manually(self):
        """Run the job as its schedule would (its user, locked against the schedule),
        recording who pressed the button; return its job log lines (one per company)."""
        self.ensure_one()
        self.browse().check_access("write")  # as the host's Run Manually: administrators
        self._try_lock()
        logs = (
            self.env["civimail.job.log"]
            .with_user(self.user_id)
            .with_context(civimail_started_by=self.env.uid)
            ._run_job(self.civimail_job, origin="manual")
        )
        self.lastcall = fields.Datetime.now()
        return logs.with_env(self.env)
